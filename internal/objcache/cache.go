// Package objcache keeps an up-to-date, in-memory copy of the objects one
// List+Watch returns, and tells waiters when anything changed. It is the watch
// cache every switchyard driver reads from, so that waiting for a condition
// costs one list and one long-running watch instead of polling.
package objcache

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/internal/participant"
)

// Object is what a Cache holds: a typed API object such as *appsv1.Deployment.
type Object interface {
	runtime.Object
	metav1.Object
}

// ListWatch lists and watches one kind of object. Options such as label
// selectors are applied by the functions themselves.
type ListWatch struct {
	List  func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error)
	Watch func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// Cache holds the objects of one ListWatch. The zero value is not usable;
// call New.
type Cache[T Object] struct {
	lw    ListWatch
	clock clock.Clock

	mu      sync.Mutex
	items   map[string]T
	rv      string
	changed chan struct{}
	err     error
	hooks   map[int]func()
	nextID  int
}

// New returns a Cache for lw that waits on clk between failed watch attempts.
func New[T Object](lw ListWatch, clk clock.Clock) *Cache[T] {
	return &Cache[T]{lw: lw, clock: clk, items: map[string]T{}, changed: make(chan struct{})}
}

// Start lists the objects and then keeps them current in a goroutine until
// ctx is done. It returns once the first list is in the cache and its watch
// is open, so that no change after the list goes unseen; a watch that
// cannot be opened is retried by the goroutine, like a failed one.
func (c *Cache[T]) Start(ctx context.Context) error {
	if err := c.relist(ctx); err != nil {
		return err
	}
	w, err := c.open(ctx)
	go c.run(ctx, w, err)
	return nil
}

// Changed returns a channel that is closed at the next change of the cache.
// Take it before reading the cache, then wait on it.
func (c *Cache[T]) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// Get returns the object with the given namespace and name.
func (c *Cache[T]) Get(namespace, name string) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.items[key(namespace, name)]
	return o, ok
}

// List returns every object, ordered by namespace and name. The objects are
// shared: callers must not modify them.
func (c *Cache[T]) List() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.items))
	for k := range c.items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		out = append(out, c.items[k])
	}
	return out
}

// Err reports the last error the watch loop could not recover from by itself;
// it is cleared by the next successful list.
func (c *Cache[T]) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func key(namespace, name string) string { return namespace + "/" + name }

// OnChange registers f to be called, in the cache's goroutine, at every
// change before Changed's channel is closed, until the returned function is
// called. A waiter uses it to mark itself busy for an auto-advancing fake
// clock before it is woken, so that the clock cannot move in between.
func (c *Cache[T]) OnChange(f func()) (cancel func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hooks == nil {
		c.hooks = map[int]func(){}
	}
	id := c.nextID
	c.nextID++
	c.hooks[id] = f
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.hooks, id)
	}
}

func (c *Cache[T]) notifyLocked() {
	for _, f := range c.hooks {
		f()
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Cache[T]) relist(ctx context.Context) error {
	list, err := c.lw.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	objs, err := meta.ExtractList(list)
	if err != nil {
		return fmt.Errorf("reading list: %w", err)
	}
	rv := ""
	if lm, err := meta.ListAccessor(list); err == nil {
		rv = lm.GetResourceVersion()
	}
	items := make(map[string]T, len(objs))
	for _, o := range objs {
		t, ok := o.(T)
		if !ok {
			return fmt.Errorf("list holds %T, not the cached type", o)
		}
		items[key(t.GetNamespace(), t.GetName())] = t
	}
	c.mu.Lock()
	c.items, c.rv, c.err = items, rv, nil
	c.notifyLocked()
	c.mu.Unlock()
	return nil
}

// run keeps the cache current from watch w, or from the error opening it:
// it watches again from the last resource version when the server closes
// the stream, re-lists when the version has expired, and backs off on the
// clock after other errors.
//
// While it has no watch open the cache holds an auto-advancing fake clock
// (it counts as a busy participant), since changes made meanwhile reach no
// watch: the clock must not move past what the next watch will replay.
// The hold is let go while it backs off: the timer's callback takes it
// again before it wakes the goroutine.
func (c *Cache[T]) run(ctx context.Context, w watch.Interface, err error) {
	var release func() // ends the hold; nil while none is held
	defer func() {
		if release != nil {
			release()
		}
	}()
	hold := func() {
		if release == nil {
			_, _, release = participant.Track(c.clock)
		}
	}
	letGo := func() {
		if release != nil {
			release()
			release = nil
		}
	}
	delay := 50 * time.Millisecond
	for {
		if err == nil {
			letGo()
			err = c.watch(ctx, w, hold)
			w.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		hold()
		if err == nil {
			delay = 50 * time.Millisecond
		} else {
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || errors.Is(err, errRelist) {
				err = c.relist(ctx)
			}
			if err != nil {
				c.mu.Lock()
				c.err = err
				c.notifyLocked() // waiters look at Err
				c.mu.Unlock()
				if !c.backOff(ctx, delay, hold, letGo) {
					return
				}
				if delay < 5*time.Second {
					delay *= 2
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		w, err = c.open(ctx)
	}
}

// backOff waits delay on the cache's clock, letting the hold go meanwhile;
// it reports false when ctx ended first. On a clock with AfterFunc (the
// fake one), the callback takes the hold again before it wakes the cache.
func (c *Cache[T]) backOff(ctx context.Context, delay time.Duration, hold, letGo func()) bool {
	dc, ok := c.clock.(clock.WithDelayedExecution)
	if !ok {
		letGo()
		t := c.clock.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C():
			return true
		}
	}
	var mu sync.Mutex // the callback's hold and letGo take turns
	fired := make(chan struct{})
	t := dc.AfterFunc(delay, func() {
		mu.Lock()
		hold()
		mu.Unlock()
		close(fired)
	})
	mu.Lock()
	letGo()
	mu.Unlock()
	select {
	case <-ctx.Done():
		if !t.Stop() {
			<-fired
		}
		return false
	case <-fired:
		return true
	}
}

// open opens a watch from the last resource version.
func (c *Cache[T]) open(ctx context.Context) (watch.Interface, error) {
	c.mu.Lock()
	rv := c.rv
	c.mu.Unlock()
	return c.lw.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
}

var errRelist = errors.New("watch must restart from a fresh list")

// watch applies w's events until it ends, ctx is done or an event says
// the cache must start over. hold is called, before the caller stops w,
// when the server closed it.
func (c *Cache[T]) watch(ctx context.Context, w watch.Interface, hold func()) error {
	// A fake cluster's watch counts an event as pending work until the
	// cache has handled it (run its hooks), when told so.
	handled := func() {}
	if h, ok := w.(interface{ Handled() }); ok {
		handled = h.Handled
	}
	for {
		handled()
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				hold()
				return nil
			}
			if err := c.apply(ev); err != nil {
				hold()
				return err
			}
		}
	}
}

func (c *Cache[T]) apply(ev watch.Event) error {
	if ev.Type == watch.Error {
		err := apierrors.FromObject(ev.Object)
		if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
			return errRelist
		}
		return err
	}
	t, ok := ev.Object.(T)
	if !ok {
		return errRelist
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rv := t.GetResourceVersion(); rv != "" {
		c.rv = rv
	}
	k := key(t.GetNamespace(), t.GetName())
	switch ev.Type {
	case watch.Added, watch.Modified:
		if old, ok := c.items[k]; ok && olderThan(t.GetResourceVersion(), old.GetResourceVersion()) {
			return nil // the cache already holds a newer write of its owner (Observe)
		}
		c.items[k] = t
	case watch.Deleted:
		delete(c.items, k)
	case watch.Bookmark:
		return nil
	}
	c.notifyLocked()
	return nil
}

// Observe puts obj, as a write of the cache's owner returned it, in the
// cache at once, so that the owner reads its own writes before the watch
// delivers them. The watch's older events of the object are then ignored;
// a newer one replaces it as usual.
func (c *Cache[T]) Observe(obj T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := key(obj.GetNamespace(), obj.GetName())
	if old, ok := c.items[k]; ok && !olderThan(old.GetResourceVersion(), obj.GetResourceVersion()) {
		return
	}
	c.items[k] = obj
	c.notifyLocked()
}

// olderThan reports whether resourceVersion a comes before b. Versions are
// compared as numbers, as the API server and the fake write them; anything
// else is not known to be older.
func olderThan(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x < y
}

// For builds a ListWatch from a typed client's List and Watch methods, with
// each option function applied to every request, e.g.
// For(cms.List, cms.Watch, ByName("web")).
func For[L runtime.Object](
	list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error),
	opts ...func(*metav1.ListOptions),
) ListWatch {
	set := func(o metav1.ListOptions) metav1.ListOptions {
		for _, f := range opts {
			f(&o)
		}
		return o
	}
	return ListWatch{
		List: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return list(ctx, set(o))
		},
		Watch: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return watchFn(ctx, set(o))
		},
	}
}

// ByName limits a ListWatch to the object with the given name.
func ByName(name string) func(*metav1.ListOptions) {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	return func(o *metav1.ListOptions) { o.FieldSelector = sel }
}

// ByLabel limits a ListWatch to objects matching a label selector.
func ByLabel(selector string) func(*metav1.ListOptions) {
	return func(o *metav1.ListOptions) { o.LabelSelector = selector }
}

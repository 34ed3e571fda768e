// Package objcache keeps an up-to-date, in-memory copy of the objects one
// list and watch return, and tells waiters when anything changed. It is the
// watch cache every switchyard driver reads from, so that waiting for a
// condition costs no polling.
//
// A Cache is client-go's tools/cache Reflector feeding an Indexer: the
// Reflector lists, watches from the list's resourceVersion, watches again
// when the server closes the stream, lists again when the version has
// expired (410 Gone, compaction) and backs off on its clock after errors.
// What this package adds to it is what a release needs: waiters woken at
// every change (Changed, OnChange), a driver's own writes read at once
// (Observe), watch errors kept for the waiters (Err), and the protocol of
// the fake cluster's auto-advancing clock (see watch.go). A Layer shares
// caches among the Runs of a process.
package objcache

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/internal/participant"
)

// Object is what a Cache holds: a typed API object such as *appsv1.Deployment.
type Object interface {
	runtime.Object
	metav1.Object
}

// Cache holds the objects of one ListWatch. The zero value is not usable;
// call New.
type Cache[T Object] struct {
	lw      ListWatch
	clock   clock.WithTickerAndDelayedExecution
	indexer cache.Indexer

	// mu serialises changes of the indexer with the notifications and
	// the comparisons of resourceVersions that go with them.
	mu      sync.Mutex
	changed chan struct{}
	err     error
	hooks   map[int]func()
	nextID  int

	// Set by Start.
	started bool
	synced  bool          // the first list is in the indexer
	ready   chan struct{} // closed once synced and the first watch was tried
	firstEr chan error    // the first list's error, before it is synced
	done    chan struct{} // closed when the reflector's goroutine has ended
	cancel  context.CancelFunc
	applied chan struct{} // one send per watch event applied (see watch.go)
}

// New returns a Cache for lw whose reflector waits on clk between failed
// attempts.
func New[T Object](lw ListWatch, clk clock.WithTickerAndDelayedExecution) *Cache[T] {
	return NewIndexed[T](lw, clk, nil)
}

// NewIndexed is New with indexes the cache keeps (see ByIndex), on top of
// one by namespace.
func NewIndexed[T Object](lw ListWatch, clk clock.WithTickerAndDelayedExecution, indexers cache.Indexers) *Cache[T] {
	idx := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	for k, f := range indexers {
		idx[k] = f
	}
	return &Cache[T]{
		lw: lw, clock: clk, changed: make(chan struct{}),
		indexer: cache.NewIndexer(cache.MetaNamespaceKeyFunc, idx),
	}
}

// Start runs the cache's reflector until ctx is done. It returns once the
// first list is in the cache and its watch has been opened (or failed to
// open: the reflector tries again after a back-off), so that no change
// after the list goes unseen. A failed first list stops the reflector and
// is returned; Start may then be called again.
func (c *Cache[T]) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("objcache: Start called twice")
	}
	c.started = true
	c.ready = make(chan struct{})
	c.firstEr = make(chan error, 1)
	c.done = make(chan struct{})
	c.applied = make(chan struct{}, 1)
	c.mu.Unlock()

	rctx, cancel := context.WithCancel(ctx)
	g := &holder{WithTickerAndDelayedExecution: c.clock}
	g.acquire() // until the first watch is open
	example := reflect.New(reflect.TypeFor[T]().Elem()).Interface()
	// A release waits on the cache: client-go's default back-off (0.8 s
	// growing to 30 s), made for many informers of one controller, would
	// leave it blind for half a minute after a few failed lists. This one
	// grows from 100 ms to 5 s, and restarts after 2 minutes without error.
	opts := cache.ReflectorOptions{Name: fmt.Sprintf("switchyard %T", example), Clock: g,
		Backoff: &wait.Backoff{Duration: 100 * time.Millisecond, Cap: 5 * time.Second, Factor: 2, Jitter: 0.5, Steps: 100}}
	if participant.Moves(c.clock) {
		// The reflector's back-off between lists runs on the real
		// clock whatever its Clock: on a fake cluster, which closes
		// watches and compacts at once, keep it short.
		opts.Backoff = &wait.Backoff{Duration: 5 * time.Millisecond, Cap: time.Second, Factor: 2, Jitter: 0.5, Steps: 20}
	}
	r := cache.NewReflectorWithOptions(&lister[T]{c: c, g: g}, example, (*store[T])(c), opts)
	done := c.done
	go func() {
		defer close(done)
		defer g.close()
		r.RunWithContext(rctx)
	}()
	select {
	case <-c.ready:
		c.mu.Lock()
		c.cancel = cancel
		c.mu.Unlock()
		return nil
	case err := <-c.firstEr:
		cancel()
		<-done
		c.reset()
		return err
	case <-ctx.Done():
		cancel()
		<-done
		c.reset()
		return ctx.Err()
	}
}

// reset lets Start be called again after a failed start.
func (c *Cache[T]) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started, c.synced = false, false
}

// Done returns a channel closed once the cache's goroutine has ended, after
// the context given to Start is done; nil before Start.
func (c *Cache[T]) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// Stop ends the cache's goroutine, as the end of Start's context does, and
// waits for it.
func (c *Cache[T]) Stop() {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
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
	o, ok, _ := c.indexer.GetByKey(cache.ObjectName{Namespace: namespace, Name: name}.String())
	if !ok {
		var zero T
		return zero, false
	}
	return o.(T), true
}

// List returns every object, ordered by namespace and name. The objects are
// shared: callers must not modify them.
func (c *Cache[T]) List() []T { return sorted[T](c.indexer.List()) }

// ByIndex returns the objects whose index name has value, ordered by
// namespace and name; nil for an index the cache does not keep.
func (c *Cache[T]) ByIndex(name, value string) []T {
	objs, err := c.indexer.ByIndex(name, value)
	if err != nil {
		return nil
	}
	return sorted[T](objs)
}

func sorted[T Object](objs []any) []T {
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(T))
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := out[i].GetNamespace(), out[j].GetNamespace(); a != b {
			return a < b
		}
		return out[i].GetName() < out[j].GetName()
	})
	return out
}

// Err reports the last error of a list, of opening a watch or of a watch
// stream, that the reflector could not recover from by itself; it is
// cleared by the next list or watch that works. Waiters are woken when it
// is set.
func (c *Cache[T]) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Cache[T]) setErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.err = nil
		return
	}
	c.err = err
	c.notifyLocked() // waiters look at Err
}

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

// Observe puts obj, as a write of the cache's owner returned it, in the
// cache at once, so that the owner reads its own writes before the watch
// delivers them. The watch's older events of the object are then ignored;
// a newer one replaces it as usual.
func (c *Cache[T]) Observe(obj T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.Get(obj.GetNamespace(), obj.GetName()); ok && !olderThan(old.GetResourceVersion(), obj.GetResourceVersion()) {
		return
	}
	_ = c.indexer.Update(obj)
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

// store is the Cache as the reflector's store: every change notifies the
// waiters, and an event older than what the cache holds (an Observed
// write) is ignored.
type store[T Object] Cache[T]

func (s *store[T]) cache() *Cache[T] { return (*Cache[T])(s) }

func (s *store[T]) Add(obj any) error    { return s.put(obj) }
func (s *store[T]) Update(obj any) error { return s.put(obj) }

func (s *store[T]) put(obj any) error {
	c := s.cache()
	defer c.appliedOne()
	t, ok := obj.(T)
	if !ok {
		return fmt.Errorf("objcache: %T is not the cached type", obj)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.Get(t.GetNamespace(), t.GetName()); ok && olderThan(t.GetResourceVersion(), old.GetResourceVersion()) {
		return nil // the cache already holds a newer write of its owner (Observe)
	}
	if err := c.indexer.Update(t); err != nil {
		return err
	}
	c.notifyLocked()
	return nil
}

func (s *store[T]) Delete(obj any) error {
	c := s.cache()
	defer c.appliedOne()
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := obj.(T); ok {
		if old, ok := c.Get(t.GetNamespace(), t.GetName()); ok && olderThan(t.GetResourceVersion(), old.GetResourceVersion()) {
			return nil // the cache holds a newer write of its owner: a new object of that name
		}
	}
	if err := c.indexer.Delete(obj); err != nil {
		return err
	}
	c.notifyLocked()
	return nil
}

// Replace takes a list: it is the cache's contents from then on, except
// objects the cache holds a newer write of.
func (s *store[T]) Replace(list []any, rv string) error {
	c := s.cache()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, o := range list {
		t, ok := o.(T)
		if !ok {
			return fmt.Errorf("objcache: list holds %T, not the cached type", o)
		}
		if old, ok := c.Get(t.GetNamespace(), t.GetName()); ok && olderThan(t.GetResourceVersion(), old.GetResourceVersion()) {
			list[i] = old
		}
	}
	if err := c.indexer.Replace(list, rv); err != nil {
		return err
	}
	c.synced, c.err = true, nil
	c.notifyLocked()
	return nil
}

func (s *store[T]) Resync() error { return nil }

// appliedOne tells the watch the reflector reads that it has applied an
// event (see watch.go).
func (c *Cache[T]) appliedOne() {
	select {
	case c.applied <- struct{}{}:
	default:
	}
}

// isExpired reports whether err says a watch must start from a new list.
func isExpired(err error) bool {
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}

func errorOf(ev watch.Event) error { return apierrors.FromObject(ev.Object) }

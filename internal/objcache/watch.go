package objcache

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// ListWatch lists and watches one kind of object. Options such as label
// selectors are applied by the functions themselves.
type ListWatch struct {
	List  func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error)
	Watch func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
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

// lister is a Cache's ListWatch as the reflector's ListerWatcher: it keeps
// the errors for Err, tells Start when the cache is ready, and wraps each
// watch for the fake clock's protocol.
type lister[T Object] struct {
	c *Cache[T]
	g *holder // the reflector's clock
}

// IsWatchListSemanticsUnSupported makes the reflector list and then watch,
// rather than stream the initial list through a watch: a list at
// resourceVersion "0" is served from the API server's watch cache, and
// the fake cluster serves it too.
func (l *lister[T]) IsWatchListSemanticsUnSupported() bool { return true }

func (l *lister[T]) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	list, err := l.c.lw.List(ctx, opts)
	if err != nil {
		l.c.mu.Lock()
		first := !l.c.synced
		l.c.mu.Unlock()
		if first {
			select {
			case l.c.firstEr <- err:
			default:
			}
		}
		if ctx.Err() == nil {
			l.c.setErr(err)
		}
		l.g.release() // the reflector backs off
		return nil, err
	}
	return list, nil
}

func (l *lister[T]) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	w, err := l.c.lw.Watch(ctx, opts)
	defer l.c.readyOnce()
	if err != nil {
		if ctx.Err() == nil && !isExpired(err) {
			l.c.setErr(err)
		}
		if !isExpired(err) {
			l.g.release() // the reflector backs off
		}
		return nil, err
	}
	l.c.setErr(nil)
	return newTracked[T](l.c, l.g, w), nil
}

// readyOnce lets Start return once the first list is in and a watch was
// tried.
func (c *Cache[T]) readyOnce() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced {
		return
	}
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}
}

// tracked is a watch as the reflector sees it. A fake cluster's watch
// counts each event as pending work for its auto-advancing clock until its
// consumer calls Handled; tracked calls it once the reflector has applied
// the event to the cache, whose hooks have then marked its waiters busy.
// It also keeps the reflector's goroutine busy from the end of a watch
// until the reflector opens the next or backs off, so that the clock does
// not move past changes no watch has delivered yet.
type tracked[T Object] struct {
	c     *Cache[T]
	g     *holder
	inner watch.Interface
	out   chan watch.Event
	stop  chan struct{}
	once  sync.Once
}

func newTracked[T Object](c *Cache[T], g *holder, inner watch.Interface) *tracked[T] {
	t := &tracked[T]{c: c, g: g, inner: inner, out: make(chan watch.Event), stop: make(chan struct{})}
	// Drain an applied signal left by an event of an earlier watch.
	select {
	case <-c.applied:
	default:
	}
	go t.forward()
	return t
}

func (t *tracked[T]) ResultChan() <-chan watch.Event { return t.out }

func (t *tracked[T]) Stop() {
	t.once.Do(func() {
		close(t.stop)
		t.inner.Stop()
	})
}

func (t *tracked[T]) forward() {
	handled := func() {}
	if h, ok := t.inner.(interface{ Handled() }); ok {
		handled = h.Handled
	}
	// The reflector now only waits for events, which the fake counts as
	// pending work until handled.
	t.g.release()
	for {
		handled()
		var ev watch.Event
		var ok bool
		select {
		case ev, ok = <-t.inner.ResultChan():
		case <-t.stop:
			return
		}
		if !ok {
			t.g.acquire() // until the reflector opens the next watch or backs off
			close(t.out)
			return
		}
		select {
		case t.out <- ev:
		case <-t.stop:
			return
		}
		if ev.Type == watch.Error {
			if err := errorOf(ev); isExpired(err) {
				t.g.acquire() // until the reflector lists again
			} else {
				t.c.setErr(err)
			}
			continue // the reflector stops the watch
		}
		if _, isT := ev.Object.(T); !isT || (ev.Type != watch.Added && ev.Type != watch.Modified && ev.Type != watch.Deleted) {
			continue // not applied to the cache: a bookmark
		}
		select {
		case <-t.c.applied:
		case <-t.stop:
			return
		}
	}
}

// List and Watch complete the older ListerWatcher interface the reflector
// is built from; it calls the WithContext methods.
func (l *lister[T]) List(opts metav1.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(context.Background(), opts)
}

func (l *lister[T]) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return l.WatchWithContext(context.Background(), opts)
}

package bootstrap

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/strategy"
)

// cacheKey names one watch: a resource in one namespace ("" for
// cluster-scoped resources).
type cacheKey struct {
	gvr       schema.GroupVersionResource
	namespace string
}

// watched is one watch cache, started once.
type watched struct {
	once  sync.Once
	err   error
	cache atomic.Pointer[objcache.Cache[*unstructured.Unstructured]]
}

// caches keeps one watch per resource and namespace a run touches, started
// on first use. Every change wakes the hub.
type caches struct {
	ctx   context.Context // the watches' lifetime
	dyn   dynamic.Interface
	clock clock.WithTickerAndDelayedExecution
	hub   *hub

	mu  sync.Mutex
	all map[cacheKey]*watched
	// dirty is set at every change of a cache, until the run looks.
	dirty atomic.Bool
}

func newCaches(ctx context.Context, dyn dynamic.Interface, clk clock.WithTickerAndDelayedExecution, h *hub) *caches {
	return &caches{ctx: ctx, dyn: dyn, clock: clk, hub: h, all: map[cacheKey]*watched{}}
}

// get returns the started cache of key, starting it (one list, then a
// watch) on first use; callers racing for the same key share one start.
// A failed start is retried by the next call.
func (cs *caches) get(key cacheKey) (*objcache.Cache[*unstructured.Unstructured], error) {
	cs.mu.Lock()
	w := cs.all[key]
	if w == nil {
		w = &watched{}
		cs.all[key] = w
	}
	cs.mu.Unlock()
	w.once.Do(func() {
		res := cs.dyn.Resource(key.gvr)
		var lw objcache.ListWatch
		if key.namespace == "" {
			lw = objcache.For(res.List, res.Watch)
		} else {
			r := res.Namespace(key.namespace)
			lw = objcache.For(r.List, r.Watch)
		}
		c := objcache.New[*unstructured.Unstructured](lw, cs.clock)
		c.OnChange(func() {
			cs.dirty.Store(true)
			cs.hub.notify()
		})
		if err := c.Start(cs.ctx); err != nil {
			w.err = fmt.Errorf("listing %s: %w", key, err)
			return
		}
		w.cache.Store(c)
	})
	if w.err != nil {
		cs.mu.Lock()
		if cs.all[key] == w {
			delete(cs.all, key)
		}
		cs.mu.Unlock()
		return nil, w.err
	}
	return w.cache.Load(), nil
}

// peek returns the cache of key if it has started.
func (cs *caches) peek(key cacheKey) (*objcache.Cache[*unstructured.Unstructured], bool) {
	cs.mu.Lock()
	w := cs.all[key]
	cs.mu.Unlock()
	if w == nil || w.cache.Load() == nil {
		return nil, false
	}
	return w.cache.Load(), true
}

// changed reports whether any cache changed since the last call.
func (cs *caches) changed() bool { return cs.dirty.Swap(false) }

func (k cacheKey) String() string {
	s := k.gvr.GroupResource().String()
	if k.namespace != "" {
		s += " in namespace " + k.namespace
	}
	return s
}

// hub tells the run that something happened: a watch saw a change or a
// job finished. It is the one source the run waits on, and calls its hooks
// (which mark the run busy for an auto-advancing fake clock) before it
// wakes it.
type hub struct {
	mu      sync.Mutex
	changed chan struct{}
	pending bool
	hooks   map[int]func()
	next    int
}

func newHub() *hub { return &hub{changed: make(chan struct{}), hooks: map[int]func(){}} }

// Changed returns a channel closed at the next notify.
func (h *hub) Changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed
}

// OnChange registers f to be called at every notify before waiters wake,
// until the returned function is called.
func (h *hub) OnChange(f func()) (cancel func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := h.next
	h.next++
	h.hooks[id] = f
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.hooks, id)
	}
}

func (h *hub) notify() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range h.hooks {
		f()
	}
	h.pending = true
	close(h.changed)
	h.changed = make(chan struct{})
}

// take reports whether anything happened since the last take.
func (h *hub) take() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pending
	h.pending = false
	return p
}

// peek reports whether anything happened since the last take.
func (h *hub) peek() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pending
}

// Err returns the error of a cache whose watch failed in a way retrying
// does not mend (a 403 for a missing "watch" permission): Driver.Wait ends
// the run with it instead of leaving objects unseen until their timeout.
func (cs *caches) Err() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for key, w := range cs.all {
		if c := w.cache.Load(); c != nil {
			if err := c.Err(); err != nil && !strategy.Transient(err) {
				return fmt.Errorf("watching %s: %w", key, err)
			}
		}
	}
	return nil
}

// watchErrs is the run's hub as a Source that also reports the caches'
// watch errors.
type watchErrs struct {
	*hub
	caches *caches
}

func (w watchErrs) Err() error { return w.caches.Err() }

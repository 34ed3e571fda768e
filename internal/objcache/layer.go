package objcache

import (
	"context"
	"errors"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/strategy/record"
)

// ErrClosed is returned for a cache asked of a Layer after Close.
var ErrClosed = errors.New("the watches were closed")

// Indexes the Layer's caches keep.
const (
	// IndexApp indexes objects by their record.LabelApp label.
	IndexApp = "app"
	// IndexService indexes EndpointSlices by the Service they belong to.
	IndexService = "service"
)

// Layer holds caches that any number of Runs share: one per kind of object
// and namespace, scoped by switchyard's labels where the objects carry
// them, started on first use and kept until Close. A Run on a Layer whose
// caches are started makes no list and opens no watch.
type Layer struct {
	Kube  kubernetes.Interface
	Clock clock.WithTickerAndDelayedExecution

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	entries map[string]*entry
	closed  bool
}

type entry struct {
	ready chan struct{} // closed once started or failed
	err   error
	cache interface{ Stop() }
}

// NewLayer returns a Layer whose caches read through kube and whose
// reflectors run on clk.
func NewLayer(kube kubernetes.Interface, clk clock.WithTickerAndDelayedExecution) *Layer {
	ctx, cancel := context.WithCancel(context.Background())
	return &Layer{Kube: kube, Clock: clk, ctx: ctx, cancel: cancel, entries: map[string]*entry{}}
}

// Close stops every cache and waits for their goroutines. Caches handed
// out stop changing; asking for one afterwards fails with ErrClosed.
func (l *Layer) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	entries := l.entries
	l.entries = nil
	l.mu.Unlock()
	l.cancel()
	for _, e := range entries {
		<-e.ready
		if e.cache != nil {
			e.cache.Stop()
		}
	}
}

// Has reports whether the cache named key has started.
func (l *Layer) Has(key string) bool {
	l.mu.Lock()
	e, ok := l.entries[key]
	l.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case <-e.ready:
		return e.err == nil
	default:
		return false
	}
}

// Started reports how many caches the layer runs.
func (l *Layer) Started() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.entries {
		select {
		case <-e.ready:
			if e.err == nil {
				n++
			}
		default:
		}
	}
	return n
}

// Shared returns the layer's cache named key, starting it from lw on
// first use; callers racing for one key share one start. A failed start
// is returned to the callers that waited for it and tried again by the
// next.
func Shared[T Object](ctx context.Context, l *Layer, key string, lw ListWatch, indexers cache.Indexers) (*Cache[T], error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrClosed
	}
	e, ok := l.entries[key]
	if !ok {
		e = &entry{ready: make(chan struct{})}
		l.entries[key] = e
	}
	l.mu.Unlock()
	if !ok {
		c := NewIndexed[T](lw, l.Clock, indexers)
		if err := c.Start(l.ctx); err != nil {
			e.err = err
			l.mu.Lock()
			if l.entries[key] == e {
				delete(l.entries, key)
			}
			l.mu.Unlock()
		} else {
			e.cache = c
		}
		close(e.ready)
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		return nil, e.err
	}
	c, ok := e.cache.(*Cache[T])
	if !ok {
		return nil, errors.New("objcache: cache " + key + " holds another type")
	}
	return c, nil
}

func byAppIndex(obj any) ([]string, error) {
	if o, ok := obj.(Object); ok {
		if v, ok := o.GetLabels()[record.LabelApp]; ok {
			return []string{v}, nil
		}
	}
	return nil, nil
}

func byServiceIndex(obj any) ([]string, error) {
	if o, ok := obj.(Object); ok {
		if v, ok := o.GetLabels()[discoveryv1.LabelServiceName]; ok {
			return []string{v}, nil
		}
	}
	return nil, nil
}

// Deployments is the cache of namespace's Deployments that carry
// record.LabelApp, indexed by it (IndexApp).
func (l *Layer) Deployments(ctx context.Context, namespace string) (*Cache[*appsv1.Deployment], error) {
	c := l.Kube.AppsV1().Deployments(namespace)
	return Shared[*appsv1.Deployment](ctx, l, "deployments/"+namespace,
		For(c.List, c.Watch, ByLabel(record.LabelApp)), cache.Indexers{IndexApp: byAppIndex})
}

// Pods is the cache of namespace's pods that carry record.LabelApp,
// indexed by it (IndexApp).
func (l *Layer) Pods(ctx context.Context, namespace string) (*Cache[*corev1.Pod], error) {
	c := l.Kube.CoreV1().Pods(namespace)
	return Shared[*corev1.Pod](ctx, l, "pods/"+namespace,
		For(c.List, c.Watch, ByLabel(record.LabelApp)), cache.Indexers{IndexApp: byAppIndex})
}

// Services is the cache of namespace's Services: the ones a release
// points need not carry switchyard's labels.
func (l *Layer) Services(ctx context.Context, namespace string) (*Cache[*corev1.Service], error) {
	c := l.Kube.CoreV1().Services(namespace)
	return Shared[*corev1.Service](ctx, l, "services/"+namespace, For(c.List, c.Watch), nil)
}

// EndpointSlices is the cache of namespace's EndpointSlices that belong
// to a Service, indexed by it (IndexService).
func (l *Layer) EndpointSlices(ctx context.Context, namespace string) (*Cache[*discoveryv1.EndpointSlice], error) {
	c := l.Kube.DiscoveryV1().EndpointSlices(namespace)
	return Shared[*discoveryv1.EndpointSlice](ctx, l, "endpointslices/"+namespace,
		For(c.List, c.Watch, ByLabel(discoveryv1.LabelServiceName)), cache.Indexers{IndexService: byServiceIndex})
}

// Records is the cache of namespace's release records (ConfigMaps
// labelled record.LabelRecord).
func (l *Layer) Records(ctx context.Context, namespace string) (*Cache[*corev1.ConfigMap], error) {
	c := l.Kube.CoreV1().ConfigMaps(namespace)
	return Shared[*corev1.ConfigMap](ctx, l, recordsKey(namespace),
		For(c.List, c.Watch, ByLabel(record.LabelRecord+"=true")), nil)
}

func recordsKey(namespace string) string { return "records/" + namespace }

// WatchesRecords reports whether the cache of namespace's release records
// has started: a Run of this process found the namespace.
func (l *Layer) WatchesRecords(namespace string) bool { return l.Has(recordsKey(namespace)) }

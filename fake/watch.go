package fake

import (
	"strconv"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// historySize is how many past events per resource a watch can resume from;
// older resourceVersions get 410 Gone, as after an etcd compaction.
const historySize = 1024

// history keeps the latest events of one resource in a ring.
type history struct {
	ring      []event
	start     int   // index of the oldest event
	n         int   // events held
	compacted int64 // events up to this resourceVersion were dropped
}

func (s *store) historyFor(gvr schema.GroupVersionResource) *history {
	h := s.history[gvr]
	if h == nil {
		h = &history{}
		s.history[gvr] = h
	}
	return h
}

func (h *history) add(ev event) {
	if h.n < historySize {
		h.ring = append(h.ring, ev)
		h.n++
		return
	}
	h.compacted = h.ring[h.start].rv
	h.ring[h.start] = ev
	h.start = (h.start + 1) % historySize
}

// since calls f for each kept event newer than rv, oldest first.
func (h *history) since(rv int64, f func(event)) {
	for i := 0; i < h.n; i++ {
		if ev := h.ring[(h.start+i)%len(h.ring)]; ev.rv > rv {
			f(ev)
		}
	}
}

// filter selects the objects a watch or list wants.
// watchScope is what a watch covers: a resource in one namespace, or in
// every namespace when ns is "".
type watchScope struct {
	gvr schema.GroupVersionResource
	ns  string
}

type filter struct {
	ns    string
	label labels.Selector
	field fields.Selector
}

func newFilter(ns string, opts metav1.ListOptions) (filter, error) {
	f := filter{ns: ns, label: labels.Everything(), field: fields.Everything()}
	if opts.LabelSelector != "" {
		sel, err := labels.Parse(opts.LabelSelector)
		if err != nil {
			return f, apierrors.NewBadRequest("parsing label selector: " + err.Error())
		}
		f.label = sel
	}
	if opts.FieldSelector != "" {
		sel, err := fields.ParseSelector(opts.FieldSelector)
		if err != nil {
			return f, apierrors.NewBadRequest("parsing field selector: " + err.Error())
		}
		f.field = sel
	}
	return f, nil
}

func (f filter) matches(obj runtime.Object) bool {
	if obj == nil {
		return false
	}
	m := mustAccessor(obj)
	if f.ns != "" && m.GetNamespace() != f.ns {
		return false
	}
	if !f.label.Empty() && !f.label.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	if f.field.Empty() {
		return true
	}
	set := fields.Set{"metadata.name": m.GetName(), "metadata.namespace": m.GetNamespace()}
	addFieldLabels(obj, set)
	return f.field.Matches(set)
}

// watcher is one open watch. Events are queued without bound and handed to
// the consumer by a goroutine, so a slow reader never blocks the store and
// never makes it panic.
type watcher struct {
	s       *store
	gvr     schema.GroupVersionResource
	filter  filter
	convert func(runtime.Object) runtime.Object

	mu     sync.Mutex
	queue  []watch.Event
	signal chan struct{}
	stopCh chan struct{}
	once   sync.Once
	result chan watch.Event
}

var _ watch.Interface = (*watcher)(nil)

// watch opens a watch on gvr. With an empty or "0" resourceVersion the
// watch starts with an Added event per existing object; with a later one it
// replays the changes made after it, or fails with 410 Gone if they are no
// longer kept.
func (s *store) watch(gvr schema.GroupVersionResource, f filter, rv string, convert func(runtime.Object) runtime.Object) (*watcher, error) {
	w := &watcher{
		s: s, gvr: gvr, filter: f, convert: convert,
		signal: make(chan struct{}, 1),
		stopCh: make(chan struct{}),
		result: make(chan watch.Event),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch rv {
	case "", "0":
		for _, o := range s.listLocked(gvr, f.ns) {
			if f.matches(o) {
				w.queue = append(w.queue, watch.Event{Type: watch.Added, Object: o})
			}
		}
	default:
		from, err := strconv.ParseInt(rv, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest("invalid resourceVersion " + strconv.Quote(rv))
		}
		h := s.historyFor(gvr)
		if from < h.compacted {
			return nil, apierrors.NewResourceExpired("too old resource version: " + rv + " (" + strconv.FormatInt(h.compacted+1, 10) + ")")
		}
		h.since(from, w.offerLocked)
	}
	scope := watchScope{gvr, f.ns}
	if s.watchers[scope] == nil {
		s.watchers[scope] = map[*watcher]struct{}{}
	}
	s.watchers[scope][w] = struct{}{}
	if len(w.queue) > 0 {
		w.wake()
	}
	go w.run()
	return w, nil
}

// offer queues ev if the watch wants it; called with the store locked.
func (w *watcher) offer(ev event) {
	w.mu.Lock()
	n := len(w.queue)
	w.offerLocked(ev)
	grew := len(w.queue) > n
	w.mu.Unlock()
	if grew {
		w.wake()
	}
}

func (w *watcher) offerLocked(ev event) {
	oldOK := ev.typ == watch.Modified && w.filter.matches(ev.old)
	newOK := w.filter.matches(ev.obj)
	switch {
	case ev.typ == watch.Modified && oldOK && !newOK:
		w.queue = append(w.queue, watch.Event{Type: watch.Deleted, Object: ev.obj})
	case ev.typ == watch.Modified && !oldOK && newOK:
		w.queue = append(w.queue, watch.Event{Type: watch.Added, Object: ev.obj})
	case newOK:
		w.queue = append(w.queue, watch.Event{Type: ev.typ, Object: ev.obj})
	}
}

func (w *watcher) wake() {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *watcher) run() {
	defer close(w.result)
	for {
		w.mu.Lock()
		var ev watch.Event
		has := len(w.queue) > 0
		if has {
			ev = w.queue[0]
			w.queue[0] = watch.Event{}
			w.queue = w.queue[1:]
		}
		w.mu.Unlock()
		if !has {
			select {
			case <-w.signal:
				continue
			case <-w.stopCh:
				return
			}
		}
		ev.Object = w.convert(ev.Object)
		select {
		case w.result <- ev:
			w.s.activity()
		case <-w.stopCh:
			return
		}
	}
}

// ResultChan returns the channel events arrive on; it is closed when the
// watch stops.
func (w *watcher) ResultChan() <-chan watch.Event { return w.result }

// Stop ends the watch and closes its result channel.
func (w *watcher) Stop() {
	w.once.Do(func() {
		w.s.mu.Lock()
		scope := watchScope{w.gvr, w.filter.ns}
		delete(w.s.watchers[scope], w)
		if len(w.s.watchers[scope]) == 0 {
			delete(w.s.watchers, scope)
		}
		w.s.mu.Unlock()
		close(w.stopCh)
	})
}

// dropWatches stops every watch whose resource matches resource ("*" for
// all) and returns how many it stopped.
func (s *store) dropWatches(resource string) int {
	s.mu.Lock()
	var ws []*watcher
	for scope, m := range s.watchers {
		if resource != "*" && resource != scope.gvr.Resource {
			continue
		}
		for w := range m {
			ws = append(ws, w)
		}
	}
	s.mu.Unlock()
	for _, w := range ws {
		w.Stop()
	}
	return len(ws)
}

package fake

import (
	"fmt"
	"sort"
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
//
// For auto-advance, an event is pending work from the moment it is queued
// until the consumer has received it, or, once the consumer calls
// Handled, until its next call of Handled: the store counts them in
// pending.
type watcher struct {
	s       *store
	gvr     schema.GroupVersionResource
	filter  filter
	convert func(runtime.Object) runtime.Object

	mu        sync.Mutex
	queue     []watch.Event
	held      int // events counted in s.pending: queued, in hand, unhandled
	unhandled int // received, not yet Handled
	stopped   bool
	acking    bool // the consumer calls Handled
	closing   bool // closed by the server; counted in s.pending until Stop
	signal    chan struct{}
	handled   chan struct{} // Handled calls, taken by run
	stopCh    chan struct{}
	once      sync.Once
	result    chan watch.Event
}

var (
	_ watch.Interface = (*watcher)(nil)
	_ EventHandler    = (*watcher)(nil)
)

// EventHandler is implemented by the watches of a Cluster's clients. A
// consumer that calls Handled before each receive from ResultChan (the
// first time included) makes each event count as pending work for
// auto-advance until its next call, not just until it is received: so
// the clock cannot move between the receipt of an event and what the
// consumer does about it, such as marking a participant busy.
type EventHandler interface {
	// Handled reports that the consumer is done with every event it has
	// received and is about to wait for the next.
	Handled()
}

// Handled implements EventHandler. The watch's goroutine takes the call
// between deliveries, so it never misses an event received just before.
//
// The server closing the watch (DropWatches, Stop of the Cluster) is then
// pending work too, until the consumer calls Stop: a consumer that calls
// Handled reacts to the close, say by opening another watch, and the
// clock must not move before it has.
func (w *watcher) Handled() {
	select {
	case w.handled <- struct{}{}:
	case <-w.stopCh:
	}
}

// release ends the pending work of the events received so far; the
// consumer has handled them.
func (w *watcher) release() {
	w.mu.Lock()
	w.acking = true
	n := w.unhandled
	w.unhandled = 0
	w.held -= n
	w.mu.Unlock()
	if n > 0 {
		w.s.pending.Add(int64(-n))
		w.s.clock.adv.bump()
	}
}

// watch opens a watch on gvr. With an empty or "0" resourceVersion the
// watch starts with an Added event per existing object; with a later one it
// replays the changes made after it, or fails with 410 Gone if they are no
// longer kept.
func (s *store) watch(gvr schema.GroupVersionResource, f filter, rv string, convert func(runtime.Object) runtime.Object) (*watcher, error) {
	w := &watcher{
		s: s, gvr: gvr, filter: f, convert: convert,
		signal:  make(chan struct{}, 1),
		handled: make(chan struct{}),
		stopCh:  make(chan struct{}),
		result:  make(chan watch.Event),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch rv {
	case "", "0":
		for _, o := range s.listLocked(gvr, f.ns) {
			if f.matches(o) {
				w.enqueueLocked(watch.Event{Type: watch.Added, Object: o})
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
		w.enqueueLocked(watch.Event{Type: watch.Deleted, Object: ev.obj})
	case ev.typ == watch.Modified && !oldOK && newOK:
		w.enqueueLocked(watch.Event{Type: watch.Added, Object: ev.obj})
	case newOK:
		w.enqueueLocked(watch.Event{Type: ev.typ, Object: ev.obj})
	}
}

// enqueueLocked queues ev as pending work; the caller bumps the clock's
// activity afterwards (the store does after every event).
func (w *watcher) enqueueLocked(ev watch.Event) {
	if w.stopped {
		return
	}
	w.queue = append(w.queue, ev)
	w.held++
	w.s.pending.Add(1)
}

func (w *watcher) wake() {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *watcher) run() {
	defer close(w.result)
	acking := false // the consumer calls Handled
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
			case <-w.handled:
				acking = true
				w.release()
			case <-w.stopCh:
				return
			}
			continue
		}
		ev.Object = w.convert(ev.Object)
		for sent := false; !sent; {
			select {
			case w.result <- ev:
				w.received(acking)
				sent = true
			case <-w.handled:
				acking = true
				w.release()
			case <-w.stopCh:
				return
			}
		}
	}
}

// received ends the pending work of an event the consumer has just
// received, or, when it calls Handled, leaves it to its next call.
func (w *watcher) received(acking bool) {
	w.mu.Lock()
	release := !w.stopped && !acking
	switch {
	case release:
		w.held--
	case !w.stopped:
		w.unhandled++
	}
	w.mu.Unlock()
	if release {
		w.s.pending.Add(-1)
	}
	w.s.clock.adv.bump()
}

// ResultChan returns the channel events arrive on; it is closed when the
// watch stops.
func (w *watcher) ResultChan() <-chan watch.Event { return w.result }

// Stop ends the watch and closes its result channel.
func (w *watcher) Stop() {
	w.stop()
	w.mu.Lock()
	closing := w.closing
	w.closing = false
	w.mu.Unlock()
	if closing {
		w.s.pending.Add(-1)
		w.s.clock.adv.bumpNotify()
	}
}

// drop closes the watch on the server's side.
func (w *watcher) drop() {
	w.mu.Lock()
	if w.acking && !w.stopped && !w.closing {
		w.closing = true
		w.s.pending.Add(1)
	}
	w.mu.Unlock()
	w.stop()
}

func (w *watcher) stop() {
	w.once.Do(func() {
		w.s.mu.Lock()
		scope := watchScope{w.gvr, w.filter.ns}
		delete(w.s.watchers[scope], w)
		if len(w.s.watchers[scope]) == 0 {
			delete(w.s.watchers, scope)
		}
		w.s.mu.Unlock()
		w.mu.Lock()
		w.stopped = true
		n := w.held
		w.held, w.unhandled, w.queue = 0, 0, nil
		w.mu.Unlock()
		close(w.stopCh)
		w.s.pending.Add(int64(-n))
		w.s.clock.adv.bumpNotify()
	})
}

// describe says what the watch holds back, for stall reports; "" when
// nothing.
func (w *watcher) describe() string {
	w.mu.Lock()
	queued, unhandled, closing := w.held-w.unhandled, w.unhandled, w.closing
	w.mu.Unlock()
	if queued == 0 && unhandled == 0 && !closing {
		return ""
	}
	what := "watch of " + w.gvr.Resource
	if w.filter.ns != "" {
		what += " in " + w.filter.ns
	}
	if !w.filter.label.Empty() {
		what += " (" + w.filter.label.String() + ")"
	}
	if !w.filter.field.Empty() {
		what += " (" + w.filter.field.String() + ")"
	}
	if closing {
		return what + ": closed by the server, not yet Stopped by its consumer"
	}
	return fmt.Sprintf("%s: %d events not yet received, %d received and not yet Handled", what, queued, unhandled)
}

// pendingWatches describes the watches holding events back, for stall
// reports.
func (s *store) pendingWatches() []string {
	s.mu.Lock()
	var ws []*watcher
	for _, m := range s.watchers {
		for w := range m {
			ws = append(ws, w)
		}
	}
	s.mu.Unlock()
	var out []string
	for _, w := range ws {
		if d := w.describe(); d != "" {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
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
		w.drop()
	}
	return len(ws)
}

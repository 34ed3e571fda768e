// Package e2ekit holds what the real-control-plane suites share: a watcher
// that follows a Service's EndpointSlices on its own list and watch,
// independent of the strategy under test, and a counter of API requests by
// verb and resource.
package e2ekit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/internal/slots"
)

// Sample is what a Service's EndpointSlices held after one change.
type Sample struct {
	At    time.Time
	Event string // "list" or the watch event and slice
	// Ready counts distinct ready endpoints over all slices; BySlot splits
	// them by the slot of their pod ("blue", "green", "other").
	Ready  int
	BySlot map[string]int
}

func (s Sample) String() string {
	return fmt.Sprintf("%s %-28s ready=%d blue=%d green=%d other=%d", s.At.Format("15:04:05.000"), s.Event,
		s.Ready, s.BySlot[slots.Blue], s.BySlot[slots.Green], s.BySlot["other"])
}

// EndpointWatcher follows one Service's EndpointSlices with its own list and
// watch, independent of the strategy's caches, and records every change.
type EndpointWatcher struct {
	kube     kubernetes.Interface
	ns, app  string
	selector string

	mu      sync.Mutex
	slices  map[string]*discoveryv1.EndpointSlice
	samples []Sample
	changed chan struct{}
	err     error // a gap in the record: a watch error or a relist
}

// WatchEndpoints starts following Service svc of app in ns until ctx ends.
func WatchEndpoints(tb testing.TB, ctx context.Context, kube kubernetes.Interface, ns, app, svc string) *EndpointWatcher {
	tb.Helper()
	w := &EndpointWatcher{kube: kube, ns: ns, app: app, selector: discoveryv1.LabelServiceName + "=" + svc,
		slices: map[string]*discoveryv1.EndpointSlice{}, changed: make(chan struct{})}
	rv, err := w.list(ctx)
	if err != nil {
		tb.Fatalf("listing EndpointSlices of %s: %v", svc, err)
	}
	go w.run(ctx, rv)
	return w
}

// list replaces the slices with a fresh list and returns its version.
func (w *EndpointWatcher) list(ctx context.Context) (string, error) {
	list, err := w.kube.DiscoveryV1().EndpointSlices(w.ns).List(ctx, metav1.ListOptions{LabelSelector: w.selector})
	if err != nil {
		return "", err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.slices = map[string]*discoveryv1.EndpointSlice{}
	for i := range list.Items {
		w.slices[list.Items[i].Name] = &list.Items[i]
	}
	w.recordLocked("list")
	return list.ResourceVersion, nil
}

func (w *EndpointWatcher) run(ctx context.Context, rv string) {
	for ctx.Err() == nil {
		wi, err := w.kube.DiscoveryV1().EndpointSlices(w.ns).Watch(ctx, metav1.ListOptions{LabelSelector: w.selector,
			ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.fail(fmt.Errorf("watching EndpointSlices: %w", err))
			if rv, err = w.list(ctx); err != nil {
				return
			}
			continue
		}
		rv = w.follow(ctx, wi, rv)
		wi.Stop()
		if rv == "" && ctx.Err() == nil {
			// The watch expired: the record has a gap. Start over from a list.
			if rv, err = w.list(ctx); err != nil {
				w.fail(err)
				return
			}
		}
	}
}

// follow applies the events of one watch and returns the version to resume
// from, "" when a relist is needed.
func (w *EndpointWatcher) follow(ctx context.Context, wi watch.Interface, rv string) string {
	for {
		select {
		case <-ctx.Done():
			return rv
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return rv // the server closed the watch: resume
			}
			switch ev.Type {
			case watch.Error:
				w.fail(apierrors.FromObject(ev.Object))
				return ""
			case watch.Bookmark:
				if s, ok := ev.Object.(*discoveryv1.EndpointSlice); ok {
					rv = s.ResourceVersion
				}
				continue
			}
			s, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok {
				continue
			}
			rv = s.ResourceVersion
			w.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(w.slices, s.Name)
			} else {
				w.slices[s.Name] = s
			}
			w.recordLocked(fmt.Sprintf("%s %s", ev.Type, s.Name))
			w.mu.Unlock()
		}
	}
}

func (w *EndpointWatcher) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// slotOf tells a pod's slot from its name: slot Deployments are named
// <app>-<slot>, so their pods <app>-<slot>-<hash>-<suffix>.
func (w *EndpointWatcher) slotOf(pod string) string {
	for _, slot := range []string{slots.Blue, slots.Green} {
		if strings.HasPrefix(pod, slots.Name(w.app, slot)+"-") {
			return slot
		}
	}
	return "other"
}

func (w *EndpointWatcher) recordLocked(event string) {
	s := Sample{At: time.Now(), Event: event, BySlot: map[string]int{}}
	seen := map[string]bool{}
	for _, sl := range w.slices {
		for _, ep := range sl.Endpoints {
			// As kube-proxy reads it: unset means ready.
			if !ptr.Deref(ep.Conditions.Ready, true) {
				continue
			}
			key, pod := "", ""
			if ref := ep.TargetRef; ref != nil && ref.Kind == "Pod" {
				key, pod = "pod/"+ref.Name, ref.Name
			} else if len(ep.Addresses) > 0 {
				key = "ip/" + ep.Addresses[0]
			}
			if seen[key] {
				continue // the same endpoint in two slices during a move
			}
			seen[key] = true
			s.Ready++
			s.BySlot[w.slotOf(pod)]++
		}
	}
	w.samples = append(w.samples, s)
	close(w.changed)
	w.changed = make(chan struct{})
}

// Mark returns the index of the current sample, the start of a period.
func (w *EndpointWatcher) Mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.samples) - 1
}

// Since returns the samples from index from on.
func (w *EndpointWatcher) Since(from int) []Sample {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Sample(nil), w.samples[from:]...)
}

// MinReady returns the fewest ready endpoints seen since from, and the
// sample where that was first seen.
func (w *EndpointWatcher) MinReady(from int) (int, Sample) {
	ss := w.Since(from)
	low := ss[0]
	for _, s := range ss[1:] {
		if s.Ready < low.Ready {
			low = s
		}
	}
	return low.Ready, low
}

// WaitFor waits, on the watch, until the latest sample satisfies cond.
func (w *EndpointWatcher) WaitFor(ctx context.Context, what string, cond func(Sample) bool) error {
	for {
		w.mu.Lock()
		last, changed := w.samples[len(w.samples)-1], w.changed
		w.mu.Unlock()
		if cond(last) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for endpoints: %s: %w (last: %s)", what, ctx.Err(), last)
		}
	}
}

// Err returns the first gap in the record (a watch error or a relist),
// nil when there was none.
func (w *EndpointWatcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Period is a stretch of the watcher's record, from one sample on.
type Period struct {
	w    *EndpointWatcher
	from int
}

// FullyServed waits until the latest sample satisfies cond and returns the
// period that starts at the first sample of the run of samples that have
// satisfied it since: the moment the Service was fully served.
func (w *EndpointWatcher) FullyServed(ctx context.Context, what string, cond func(Sample) bool) (Period, error) {
	if err := w.WaitFor(ctx, what, cond); err != nil {
		return Period{}, err
	}
	ss := w.Since(0)
	for i := len(ss) - 1; i >= 0; i-- {
		if !cond(ss[i]) {
			return Period{w: w, from: i + 1}, nil
		}
	}
	return Period{w: w, from: 0}, nil
}

// Begin starts a period at the current sample.
func (w *EndpointWatcher) Begin() Period { return Period{w: w, from: w.Mark()} }

// Samples returns the period's samples so far.
func (p Period) Samples() []Sample { return p.w.Since(p.from) }

// Check asserts that the Service never had fewer than min ready endpoints
// in the period, logs the record and returns the minimum.
func (p Period) Check(t *testing.T, name string, min int) int {
	t.Helper()
	if err := p.w.Err(); err != nil {
		t.Errorf("%s: the endpoint record has a gap: %v", name, err)
	}
	ss := p.Samples()
	low := ss[0]
	var b strings.Builder
	for _, s := range ss {
		if s.Ready < low.Ready {
			low = s
		}
		fmt.Fprintf(&b, "\n  %s", s)
	}
	t.Logf("%s: minimum ready endpoints %d over %d changes:%s", name, low.Ready, len(ss)-1, b.String())
	if low.Ready < min {
		t.Errorf("%s: the stable Service had %d ready endpoints at %s, want at least %d", name, low.Ready, low, min)
	}
	return low.Ready
}

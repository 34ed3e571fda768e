package e2e

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

	"github.com/switchyard-dev/switchyard/bluegreen"
)

// sample is what the active Service's EndpointSlices held after one change.
type sample struct {
	At    time.Time
	Event string // "list" or the watch event and slice
	// Ready counts distinct ready endpoints over all slices; BySlot splits
	// them by the slot of their pod ("blue", "green", "other").
	Ready  int
	BySlot map[string]int
}

func (s sample) String() string {
	return fmt.Sprintf("%s %-28s ready=%d blue=%d green=%d other=%d", s.At.Format("15:04:05.000"), s.Event,
		s.Ready, s.BySlot[bluegreen.Blue], s.BySlot[bluegreen.Green], s.BySlot["other"])
}

// endpointWatcher follows one Service's EndpointSlices with its own list and
// watch, independent of the strategy's caches, and records every change.
type endpointWatcher struct {
	kube     kubernetes.Interface
	ns, app  string
	selector string

	mu      sync.Mutex
	slices  map[string]*discoveryv1.EndpointSlice
	samples []sample
	changed chan struct{}
	err     error // a gap in the record: a watch error or a relist
}

// watchEndpoints starts following Service svc of app in ns until ctx ends.
func watchEndpoints(t testing.TB, ctx context.Context, kube kubernetes.Interface, ns, app, svc string) *endpointWatcher {
	t.Helper()
	w := &endpointWatcher{kube: kube, ns: ns, app: app, selector: discoveryv1.LabelServiceName + "=" + svc,
		slices: map[string]*discoveryv1.EndpointSlice{}, changed: make(chan struct{})}
	rv, err := w.list(ctx)
	if err != nil {
		t.Fatalf("listing EndpointSlices of %s: %v", svc, err)
	}
	go w.run(ctx, rv)
	return w
}

// list replaces the slices with a fresh list and returns its version.
func (w *endpointWatcher) list(ctx context.Context) (string, error) {
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

func (w *endpointWatcher) run(ctx context.Context, rv string) {
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
func (w *endpointWatcher) follow(ctx context.Context, wi watch.Interface, rv string) string {
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

func (w *endpointWatcher) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// slotOf tells a pod's slot from its name: slot Deployments are named
// <app>-<slot>, so their pods <app>-<slot>-<hash>-<suffix>.
func (w *endpointWatcher) slotOf(pod string) string {
	for _, slot := range []string{bluegreen.Blue, bluegreen.Green} {
		if strings.HasPrefix(pod, bluegreen.SlotName(w.app, slot)+"-") {
			return slot
		}
	}
	return "other"
}

func (w *endpointWatcher) recordLocked(event string) {
	s := sample{At: time.Now(), Event: event, BySlot: map[string]int{}}
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

// mark returns the index of the current sample, the start of a period.
func (w *endpointWatcher) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.samples) - 1
}

// since returns the samples from index from on.
func (w *endpointWatcher) since(from int) []sample {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]sample(nil), w.samples[from:]...)
}

// minReady returns the fewest ready endpoints seen since from, and the
// sample where that was first seen.
func (w *endpointWatcher) minReady(from int) (int, sample) {
	ss := w.since(from)
	low := ss[0]
	for _, s := range ss[1:] {
		if s.Ready < low.Ready {
			low = s
		}
	}
	return low.Ready, low
}

// waitFor waits, on the watch, until the latest sample satisfies cond.
func (w *endpointWatcher) waitFor(ctx context.Context, what string, cond func(sample) bool) error {
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

func (w *endpointWatcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// period is a stretch of the watcher's record, between mark and end.
type period struct {
	w    *endpointWatcher
	from int
}

func (w *endpointWatcher) begin() period { return period{w: w, from: w.mark()} }

// check asserts that the Service never had fewer than min ready endpoints
// in the period, logs the record and returns the minimum.
func (p period) check(t *testing.T, name string, min int) int {
	t.Helper()
	if err := p.w.Err(); err != nil {
		t.Errorf("%s: the endpoint record has a gap: %v", name, err)
	}
	low, at := p.w.minReady(p.from)
	ss := p.w.since(p.from)
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "\n  %s", s)
	}
	t.Logf("%s: minimum ready endpoints %d over %d changes:%s", name, low, len(ss)-1, b.String())
	if low < min {
		t.Errorf("%s: the active Service had %d ready endpoints at %s, want at least %d", name, low, at, min)
	}
	return low
}

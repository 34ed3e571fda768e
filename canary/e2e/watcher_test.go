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

	"github.com/switchyard-dev/switchyard/canary"
)

// sample is what a Service's EndpointSlices held after one change.
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
		s.Ready, s.BySlot[canary.Blue], s.BySlot[canary.Green], s.BySlot["other"])
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
func watchEndpoints(tb testing.TB, ctx context.Context, kube kubernetes.Interface, ns, app, svc string) *endpointWatcher {
	tb.Helper()
	w := &endpointWatcher{kube: kube, ns: ns, app: app, selector: discoveryv1.LabelServiceName + "=" + svc,
		slices: map[string]*discoveryv1.EndpointSlice{}, changed: make(chan struct{})}
	rv, err := w.list(ctx)
	if err != nil {
		tb.Fatalf("listing EndpointSlices of %s: %v", svc, err)
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
	for _, slot := range []string{canary.Blue, canary.Green} {
		if strings.HasPrefix(pod, canary.SlotName(w.app, slot)+"-") {
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

// since returns the samples from index from on.
func (w *endpointWatcher) since(from int) []sample {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]sample(nil), w.samples[from:]...)
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

// period is a stretch of the watcher's record, from sample from on.
type period struct {
	w    *endpointWatcher
	from int
}

// fullyServed waits until the latest sample satisfies cond and returns the
// period that starts at the first sample of the run of samples that have
// satisfied it since: the moment the Service was fully served.
func (w *endpointWatcher) fullyServed(ctx context.Context, what string, cond func(sample) bool) (period, error) {
	if err := w.waitFor(ctx, what, cond); err != nil {
		return period{}, err
	}
	ss := w.since(0)
	for i := len(ss) - 1; i >= 0; i-- {
		if !cond(ss[i]) {
			return period{w: w, from: i + 1}, nil
		}
	}
	return period{w: w, from: 0}, nil
}

// samples returns the period's samples so far.
func (p period) samples() []sample { return p.w.since(p.from) }

// check asserts that the Service never had fewer than min ready endpoints
// in the period, logs the record and returns the minimum.
func (p period) check(t *testing.T, name string, min int) int {
	t.Helper()
	if err := p.w.Err(); err != nil {
		t.Errorf("%s: the endpoint record has a gap: %v", name, err)
	}
	ss := p.samples()
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

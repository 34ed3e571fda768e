package e2e

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// timeline follows the app's pods and its active Service with watches of its
// own and notes when each slot's pods of a revision were all Ready and when
// the Service's selector moved to a slot, at the moment each event arrives.
type timeline struct {
	mu       sync.Mutex
	pods     map[string]*corev1.Pod
	full     map[string][]time.Time // slot/revision: each time its Ready pods reached replicas
	readyNow map[string]int
	switches []slotAt // selector moves of the active Service
	slot     string
	err      error
}

type slotAt struct {
	slot string
	at   time.Time
}

func followTimeline(tb testing.TB, ctx context.Context, kube kubernetes.Interface, ns string) *timeline {
	tb.Helper()
	tl := &timeline{pods: map[string]*corev1.Pod{}, full: map[string][]time.Time{}, readyNow: map[string]int{}}
	pods := kube.CoreV1().Pods(ns)
	pl, err := pods.List(ctx, metav1.ListOptions{LabelSelector: strategy.LabelApp + "=" + appName})
	if err != nil {
		tb.Fatal(err)
	}
	pw, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: strategy.LabelApp + "=" + appName, ResourceVersion: pl.ResourceVersion})
	if err != nil {
		tb.Fatal(err)
	}
	svcs := kube.CoreV1().Services(ns)
	sl, err := svcs.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + appName})
	if err != nil {
		tb.Fatal(err)
	}
	sw, err := svcs.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + appName, ResourceVersion: sl.ResourceVersion})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range pl.Items {
		tl.pod(watch.Added, &pl.Items[i], time.Now())
	}
	for i := range sl.Items {
		tl.service(&sl.Items[i], time.Now())
	}
	go func() {
		defer pw.Stop()
		for ev := range pw.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok {
				tl.pod(ev.Type, p, time.Now())
			} else if ev.Type == watch.Error {
				tl.fail(fmt.Errorf("pod watch: %v", ev.Object))
			}
		}
	}()
	go func() {
		defer sw.Stop()
		for ev := range sw.ResultChan() {
			if s, ok := ev.Object.(*corev1.Service); ok {
				tl.service(s, time.Now())
			} else if ev.Type == watch.Error {
				tl.fail(fmt.Errorf("service watch: %v", ev.Object))
			}
		}
	}()
	return tl
}

func (tl *timeline) fail(err error) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.err == nil {
		tl.err = err
	}
}

func (tl *timeline) pod(typ watch.EventType, p *corev1.Pod, at time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if typ == watch.Deleted {
		delete(tl.pods, p.Name)
	} else {
		tl.pods[p.Name] = p
	}
	counts := map[string]int{}
	for _, q := range tl.pods {
		if q.DeletionTimestamp == nil && podReady(q) {
			counts[q.Labels[strategy.LabelSlot]+"/"+q.Labels[strategy.LabelRevision]]++
		}
	}
	for k, n := range counts {
		if n >= replicas && tl.readyNow[k] < replicas {
			tl.full[k] = append(tl.full[k], at)
		}
	}
	tl.readyNow = counts
}

func (tl *timeline) service(s *corev1.Service, at time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if slot := s.Spec.Selector[strategy.LabelSlot]; slot != tl.slot {
		tl.slot = slot
		tl.switches = append(tl.switches, slotAt{slot, at})
	}
}

// latency returns the time from slot's pods of revision becoming all Ready
// (the last time before the switch) to the first selector move to slot
// after since.
func (tl *timeline) latency(slot, revision string, since time.Time) (time.Duration, error) {
	d, _, err := tl.switchOf(slot, revision, since)
	return d, err
}

// switchOf is latency, and when the switch came.
func (tl *timeline) switchOf(slot, revision string, since time.Time) (time.Duration, time.Time, error) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.err != nil {
		return 0, time.Time{}, tl.err
	}
	var switched time.Time
	for _, s := range tl.switches {
		if s.slot == slot && s.at.After(since) {
			switched = s.at
			break
		}
	}
	if switched.IsZero() {
		return 0, time.Time{}, fmt.Errorf("the watch saw no switch to slot %s", slot)
	}
	var ready time.Time
	for _, t := range tl.full[slot+"/"+revision] {
		if !t.After(switched) {
			ready = t
		}
	}
	if ready.IsZero() {
		return 0, time.Time{}, fmt.Errorf("the watch saw slot %s switched to at %s before its pods of %s were all Ready", slot, switched.Format(time.StampMicro), revision)
	}
	return switched.Sub(ready), switched, nil
}

// percentile returns the nearest-rank p-th percentile of sorted ds.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkSwitchLatency runs 20 blue/green rollouts per iteration on the
// real control plane and reports the time from the new slot's last pod
// turning Ready to the active Service's selector write, both as seen by the
// benchmark's own watches, and the strategy's API requests per rollout.
func BenchmarkSwitchLatency(b *testing.B) {
	const rollouts = 20
	e := newEnv(b)
	counter := e2ekit.NewRequestCounter()
	clients, err := strategy.NewClients(e2ekit.DefaultLimit(counter.Wrap(e.cfg)))
	if err != nil {
		b.Fatal(err)
	}
	// One shared watch layer, as a long-running deploy service has: the
	// first release warms it.
	watches := strategy.NewWatches(clients)
	defer watches.Close()
	s := bluegreen.New(clients, baseSpec(), strategy.WithIdentity("e2e-bench"), strategy.WithWatches(watches))
	tl := followTimeline(b, e.ctx, e.kube, e.app.Namespace)
	// The first release only sets the slot into the selector: not measured.
	if _, err := s.Run(e.ctx, e.release("r0")); err != nil {
		b.Fatal(err)
	}
	counter.Snapshot()

	var lat []time.Duration
	var took []time.Duration
	var startToSwitch []time.Duration // Run's start → the selector write, as the watch saw it
	verbs := map[string]int{}
	verbRes := map[string]int{}
	total := 0
	n := 0
	b.ResetTimer()
	for b.Loop() {
		for range rollouts {
			n++
			rev := fmt.Sprintf("r%d", n)
			slot := bluegreen.Green
			if n%2 == 0 {
				slot = bluegreen.Blue
			}
			start := time.Now()
			res, err := s.Run(e.ctx, e.release(rev))
			if err != nil {
				b.Fatalf("release %s: %v", rev, err)
			}
			took = append(took, time.Since(start))
			if res.Phase != strategy.PhaseSucceeded {
				b.Fatalf("release %s ended %s", rev, res.Phase)
			}
			bv, bvr, t := counter.Snapshot()
			for k, v := range bv {
				verbs[k] += v
			}
			for k, v := range bvr {
				verbRes[k] += v
			}
			total += t
			// The Service watch may trail Run by an event: wait for it.
			if err := e.eps.WaitFor(e.ctx, "slot "+slot+" serves", func(s e2ekit.Sample) bool { return s.BySlot[slot] == replicas && s.Ready == replicas }); err != nil {
				b.Fatal(err)
			}
			d, at, err := tl.switchOf(slot, rev, start)
			if err != nil {
				b.Fatalf("release %s: %v", rev, err)
			}
			lat = append(lat, d)
			startToSwitch = append(startToSwitch, at.Sub(start))
		}
	}
	b.StopTimer()

	sorted := slices.Clone(lat)
	slices.Sort(sorted)
	p50, p95 := percentile(sorted, 50), percentile(sorted, 95)
	b.ReportMetric(ms(p50), "switch-p50-ms")
	b.ReportMetric(ms(percentileSorted(startToSwitch, 50)), "start-to-switch-p50-ms")
	b.ReportMetric(ms(p95), "switch-p95-ms")
	per := float64(len(lat))
	b.ReportMetric(float64(total)/per, "requests/rollout")
	names := make([]string, 0, len(verbs))
	for v := range verbs {
		names = append(names, v)
	}
	sort.Strings(names)
	for _, v := range names {
		b.ReportMetric(float64(verbs[v])/per, v+"/rollout")
	}

	var tbl strings.Builder
	fmt.Fprintf(&tbl, "\n%d rollouts of %d replicas; ready→switch latency p50 %.1fms p95 %.1fms (min %.1fms, max %.1fms); Run took p50 %s\n",
		len(lat), replicas, ms(p50), ms(p95), ms(sorted[0]), ms(sorted[len(sorted)-1]), percentileSorted(took, 50).Round(time.Millisecond))
	fmt.Fprintf(&tbl, "%-4s %-8s %10s %10s\n", "#", "slot", "latency", "Run")
	for i, d := range lat {
		slot := bluegreen.Green
		if (i+1)%2 == 0 {
			slot = bluegreen.Blue
		}
		fmt.Fprintf(&tbl, "%-4d %-8s %8.1fms %10s\n", i+1, slot, ms(d), took[i].Round(time.Millisecond))
	}
	fmt.Fprintf(&tbl, "\nAPI requests per rollout (%.1f in all)\n%-36s %8s\n", float64(total)/per, "verb resource", "per run")
	for _, v := range names {
		fmt.Fprintf(&tbl, "%-36s %8.1f\n", v, float64(verbs[v])/per)
		keys := make([]string, 0)
		for k := range verbRes {
			if strings.HasPrefix(k, v+" ") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&tbl, "  %-34s %8.1f\n", k, float64(verbRes[k])/per)
		}
	}
	b.Logf("%s", tbl.String())
}

func percentileSorted(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return percentile(s, p)
}

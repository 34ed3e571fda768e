package canary_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// sixSteps is the schedule of the benchmarks: three weights, each followed
// by a one-minute pause.
var sixSteps = []canary.Step{
	canary.SetWeight{Percent: 20}, canary.Pause{Duration: time.Minute},
	canary.SetWeight{Percent: 50}, canary.Pause{Duration: time.Minute},
	canary.SetWeight{Percent: 80}, canary.Pause{Duration: time.Minute},
}

// BenchmarkCanaryOnFake measures one 6-step canary release on the fake
// cluster through the Gateway API router, and the API requests it makes per
// step, by verb and resource.
func BenchmarkCanaryOnFake(b *testing.B) {
	b.ReportAllocs()
	var total int
	byVerb := map[string]int{}
	t := &testing.T{}
	for range b.N {
		b.StopTimer()
		e := newBenchEnv(b, t)
		spec := e.spec(sixSteps...)
		e.install(spec)
		e.c.ResetRequests()
		b.StartTimer()
		if _, err := e.strategy(spec, "bench").Run(context.Background(), release("v2")); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for k, n := range e.c.Requests() {
			total += n
			byVerb[k.Verb+" "+k.Resource] += n
		}
		e.c.Stop()
	}
	steps := len(sixSteps)
	b.ReportMetric(float64(total)/float64(b.N*steps), "requests/step")
	var lines []string
	for k, n := range byVerb {
		lines = append(lines, fmt.Sprintf("%s: %.1f", k, float64(n)/float64(b.N*steps)))
	}
	sort.Strings(lines)
	b.Logf("requests per step (a release of %d steps, its promotion included): %s", steps, strings.Join(lines, ", "))
}

func newBenchEnv(b *testing.B, t *testing.T) *env {
	b.Helper()
	r := routingNamed("GatewayHTTPRoute")
	c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		service("web-stable", map[string]string{"app": "web", strategy.LabelSlot: "blue"}),
		service("web-canary", map[string]string{"app": "web", strategy.LabelSlot: "green"})))
	installCRD(t, c, r.crds[0])
	if err := c.WaitIdle(context.Background()); err != nil {
		b.Fatal(err)
	}
	r.objects(t, c)
	return &env{t: t, c: c, r: r, cl: c.Clients()}
}

// BenchmarkConcurrentCanaries10000 runs 10,000 six-step canary releases
// with pauses at once in one process, each app in its own namespace on one
// fake cluster, all sharing one strategy.Watches, as a deploy service
// driving many apps would.
//
// Each iteration makes the cluster and the Watches (for the cluster's
// clients and clock), releases v1 of every app (a warm-up, not timed,
// which also starts the shared watch caches), then v2 of every app (timed),
// then closes the Watches. It reports:
//
//	s/all              wall seconds until every v2 Run returned Succeeded
//	close-s            wall seconds w.Close took (not in s/all)
//	peak-heap-MB       the largest heap in use (HeapInuse) seen over the
//	                   whole iteration, sampled every 50ms of real time
//	requests/canary    API requests of the v2 releases, per canary
//	record-updates/canary  "update configmaps" of the v2 releases
//	lists/canary, watches/canary  list and watch requests of the v2 releases
//	warm-lists/canary, warm-watches/canary  the same for the v1 warm-up
//
// and logs the v2 requests per canary by verb and resource, and the fake
// clock's stall report if there was one.
func BenchmarkConcurrentCanaries10000(b *testing.B) { benchConcurrent(b, 10000, true) }

// BenchmarkConcurrentCanaries1000 is the same at a tenth of the size.
func BenchmarkConcurrentCanaries1000(b *testing.B) { benchConcurrent(b, 1000, true) }

// BenchmarkConcurrentCanaries1000Unshared is BenchmarkConcurrentCanaries1000
// without strategy.WithWatches: each Run starts watch caches of its own and
// stops them before it returns. close-s is then 0.
func BenchmarkConcurrentCanaries1000Unshared(b *testing.B) { benchConcurrent(b, 1000, false) }

func benchConcurrent(b *testing.B, n int, shared bool) {
	var sumWall, sumClose, sumWarm time.Duration
	var maxPeak uint64
	var sumReq, sumWarmReq benchRequests
	for range b.N {
		b.StopTimer()
		runtime.GC()
		var peak atomic.Uint64
		stopSampling := sampleHeap(&peak)
		var objs []k8sruntime.Object
		for i := range n {
			name := "app-" + strconv.Itoa(i)
			objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
		}
		c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithObjects(objs...))
		clk := c.Clock()
		opts := []strategy.Option{strategy.WithClock(clk), strategy.WithIdentity("bench"), strategy.WithEvents(false)}
		var w *strategy.Watches
		if shared {
			w = strategy.NewWatches(c.Clients(), strategy.WithClock(clk))
			opts = append(opts, strategy.WithWatches(w))
		}
		runAll := func(rev string) (time.Duration, error) {
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					name := "app-" + strconv.Itoa(i)
					spec := canary.Spec{StableService: "web", ServicePorts: service("web", nil).Spec.Ports, Steps: sixSteps}
					s := canary.New(c.Clients(), spec, opts...)
					res, err := s.Run(context.Background(), strategy.Release{App: types.NamespacedName{Namespace: name, Name: "web"}, Revision: rev, Workload: workload(rev, 2)})
					if err == nil && res.Phase != strategy.PhaseSucceeded {
						err = fmt.Errorf("%s ended %s", name, res.Phase)
					}
					if err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			return time.Since(start), <-errs
		}
		fail := func(err error) {
			if se := clk.Stall(); se != nil {
				b.Logf("%v", se)
			}
			b.Fatal(err)
		}
		warm, err := runAll("v1")
		if err != nil {
			fail(err)
		}
		warmReq := c.ResetRequests()
		fakeStart := clk.Now()
		b.StartTimer()
		wall, err := runAll("v2")
		b.StopTimer()
		fakeTime := clk.Now().Sub(fakeStart)
		if err != nil {
			fail(err)
		}
		req := c.Requests()
		var closeTime time.Duration
		if w != nil {
			start := time.Now()
			w.Close()
			closeTime = time.Since(start)
			if after := c.Requests().Total(); after != req.Total() {
				b.Logf("w.Close made %d API requests", after-req.Total())
			}
		}
		stopSampling()
		if se := clk.Stall(); se != nil {
			b.Errorf("%v", se)
		}
		c.Stop()

		sumWall += wall
		sumClose += closeTime
		sumWarm += warm
		maxPeak = max(maxPeak, peak.Load())
		sumReq.add(req)
		sumWarmReq.add(warmReq)
		keys := make([]fake.RequestKey, 0, len(req))
		for k := range req {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { // most first
			if req[keys[i]] != req[keys[j]] {
				return req[keys[i]] > req[keys[j]]
			}
			return keys[i].Verb+" "+keys[i].Resource < keys[j].Verb+" "+keys[j].Resource
		})
		var lines []string
		for _, k := range keys {
			lines = append(lines, fmt.Sprintf("%s %s: %.2f", k.Verb, k.Resource, float64(req[k])/float64(n)))
		}
		b.Logf("%d concurrent 6-step canaries (shared Watches: %v): v2 %s wall, %s of fake time (v1 warm-up %s), Close %s, peak heap %d MB, %d API requests; per canary: %s",
			n, shared, wall.Round(time.Millisecond), fakeTime, warm.Round(time.Millisecond), closeTime.Round(time.Millisecond),
			peak.Load()>>20, req.Total(), strings.Join(lines, ", "))
	}
	runs := float64(b.N)
	per := func(v int) float64 { return float64(v) / (runs * float64(n)) }
	b.ReportMetric(sumWall.Seconds()/runs, "s/all")
	b.ReportMetric(sumClose.Seconds()/runs, "close-s")
	b.ReportMetric(sumWarm.Seconds()/runs, "warm-s/all")
	b.ReportMetric(float64(maxPeak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(per(sumReq.total), "requests/canary")
	b.ReportMetric(per(sumReq.recordUpdates), "record-updates/canary")
	b.ReportMetric(per(sumReq.lists), "lists/canary")
	b.ReportMetric(per(sumReq.watches), "watches/canary")
	b.ReportMetric(per(sumWarmReq.lists), "warm-lists/canary")
	b.ReportMetric(per(sumWarmReq.watches), "warm-watches/canary")
}

// benchRequests sums the API requests of concurrent releases.
type benchRequests struct {
	total, recordUpdates, lists, watches int
}

func (t *benchRequests) add(rc fake.RequestCounts) {
	t.total += rc.Total()
	t.recordUpdates += rc[fake.RequestKey{Verb: "update", Resource: "configmaps"}]
	t.lists += rc.Count("list", "*")
	t.watches += rc.Count("watch", "*")
}

// sampleHeap records the largest heap in use (runtime.MemStats.HeapInuse:
// the bytes in in-use heap spans, read from runtime/metrics, which does not
// stop the world) every 50ms of real time until stopped.
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		samples := []metrics.Sample{
			{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/memory/classes/heap/unused:bytes"},
		}
		for {
			metrics.Read(samples)
			if inuse := samples[0].Value.Uint64() + samples[1].Value.Uint64(); inuse > peak.Load() {
				peak.Store(inuse)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// BenchmarkHourLongPause measures a canary that pauses for an hour of fake
// time with the default options: what simulated time costs while nothing
// happens (lease renewals among it).
func BenchmarkHourLongPause(b *testing.B) {
	t := &testing.T{}
	var total int
	for range b.N {
		b.StopTimer()
		e := newBenchEnv(b, t)
		spec := e.spec(canary.SetWeight{Percent: 10}, canary.Pause{Duration: time.Hour}, canary.SetWeight{Percent: 100})
		e.install(spec)
		e.c.ResetRequests()
		b.StartTimer()
		if _, err := e.strategy(spec, "bench").Run(context.Background(), release("v2")); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		total += e.c.Requests().Total()
		e.c.Stop()
	}
	b.ReportMetric(float64(total)/float64(b.N), "requests/release")
}

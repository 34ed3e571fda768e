package canary_test

import (
	"context"
	"fmt"
	"runtime"
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
// fake cluster, and reports the wall time and the peak heap.
func BenchmarkConcurrentCanaries10000(b *testing.B) { benchConcurrent(b, 10000) }

// BenchmarkConcurrentCanaries1000 is the same at a tenth of the size.
func BenchmarkConcurrentCanaries1000(b *testing.B) { benchConcurrent(b, 1000) }

func benchConcurrent(b *testing.B, n int) {
	for range b.N {
		runtime.GC()
		var peak atomic.Uint64
		stopSampling := sampleHeap(&peak)
		var objs []k8sruntime.Object
		for i := range n {
			name := "app-" + strconv.Itoa(i)
			objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
		}
		c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithObjects(objs...))
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
					s := canary.New(c.Clients(), spec, strategy.WithClock(c.Clock()), strategy.WithIdentity("bench"), strategy.WithEvents(false))
					w := workload(rev, 2)
					res, err := s.Run(context.Background(), strategy.Release{App: types.NamespacedName{Namespace: name, Name: "web"}, Revision: rev, Workload: w})
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
		if _, err := runAll("v1"); err != nil {
			b.Fatal(err)
		}
		c.ResetRequests()
		b.ResetTimer()
		wall, err := runAll("v2")
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		stopSampling()
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
		var lines []string
		for k, v := range c.Requests() {
			lines = append(lines, fmt.Sprintf("%s %s: %.1f", k.Verb, k.Resource, float64(v)/float64(n)))
		}
		sort.Strings(lines)
		b.Logf("%d concurrent 6-step canaries: %s wall time, peak heap %d MB, %d API requests (per canary: %s)",
			n, wall.Round(time.Millisecond), peak.Load()>>20, c.Requests().Total(), strings.Join(lines, ", "))
		c.Stop()
	}
}

// sampleHeap records the largest heap in use every 20ms until stopped.
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
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

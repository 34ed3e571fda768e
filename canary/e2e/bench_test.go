package e2e

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// benchSteps is a 6-step canary with two pauses of benchPause.
const benchPause = time.Second

func benchSteps() []canary.Step {
	return []canary.Step{canary.SetWeight{Percent: 10}, canary.Pause{Duration: benchPause}, canary.SetWeight{Percent: 30},
		canary.Pause{Duration: benchPause}, canary.SetWeight{Percent: 60}, canary.SetWeight{Percent: 100}}
}

// BenchmarkStepOverhead runs, per iteration, three 6-step canaries (two
// pauses of 1s, no scale-down delay) on GatewayHTTPRoute and on
// ReplicaRatio, and reports the time per step spent outside pauses (Run's
// time minus the pauses, divided by the 6 steps) and the strategy's API
// requests per step by verb. Run's time includes deploying the canary slot,
// promotion and scaling the old slot down.
func BenchmarkStepOverhead(b *testing.B) {
	for _, name := range []string{"GatewayHTTPRoute", "ReplicaRatio"} {
		b.Run(name, func(b *testing.B) { benchStepOverhead(b, routingNamed(name)) })
	}
}

func benchStepOverhead(b *testing.B, r routing) {
	const canaries = 3
	e := newEnv(b, r)
	counter := e2ekit.NewRequestCounter()
	clients, err := strategy.NewClients(e2ekit.DefaultLimit(counter.Wrap(e.cfg)))
	if err != nil {
		b.Fatal(err)
	}
	steps := benchSteps()
	spec := e.spec(clients, steps...)
	spec.ScaleDownDelay = ptr.To(time.Duration(0))
	var paused time.Duration
	for _, s := range steps {
		if p, ok := s.(canary.Pause); ok {
			paused += p.Duration
		}
	}
	var ev events
	watches := strategy.NewWatches(clients)
	defer watches.Close()
	s := canary.New(clients, spec, strategy.WithIdentity("e2e-bench"), ev.observer(), strategy.WithWatches(watches))
	// The first release goes straight to full size: not measured.
	if _, err := s.Run(e.ctx, e.release("r0")); err != nil {
		b.Fatal(err)
	}
	counter.Snapshot()
	ev.reset()

	var took []time.Duration
	verbs, verbRes := map[string]int{}, map[string]int{}
	total, n := 0, 0
	b.ResetTimer()
	for b.Loop() {
		for range canaries {
			n++
			rev := fmt.Sprintf("r%d", n)
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
		}
	}
	b.StopTimer()

	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	runs := float64(len(took))
	perStep := float64(len(steps)) * runs
	overhead := (sum - time.Duration(len(took))*paused) / time.Duration(len(took)*len(steps))
	b.ReportMetric(ms(overhead), "overhead-ms/step")
	b.ReportMetric(float64(total)/perStep, "requests/step")
	names := make([]string, 0, len(verbs))
	for v := range verbs {
		names = append(names, v)
	}
	sort.Strings(names)
	for _, v := range names {
		b.ReportMetric(float64(verbs[v])/perStep, v+"/step")
	}

	var tbl strings.Builder
	fmt.Fprintf(&tbl, "\n%s: %d canaries of %d replicas, %d steps each with %s of pauses\n", r.name, len(took), replicas, len(steps), paused)
	fmt.Fprintf(&tbl, "Run took %s on average; outside pauses %.0fms per step (%.0fms per release)\n",
		(sum / time.Duration(len(took))).Round(time.Millisecond), ms(overhead), ms(overhead)*float64(len(steps)))
	fmt.Fprintf(&tbl, "\nmean time per step, from the observer's events\n")
	for _, st := range ev.stepTimes() {
		fmt.Fprintf(&tbl, "  %-14s %8.0fms  (x%d)\n", st.name, ms(st.mean), st.n)
	}
	fmt.Fprintf(&tbl, "\nAPI requests per step (%.1f in all; %.1f per release)\n%-40s %8s\n", float64(total)/perStep, float64(total)/runs, "verb resource", "per step")
	for _, v := range names {
		fmt.Fprintf(&tbl, "%-40s %8.2f\n", v, float64(verbs[v])/perStep)
		var keys []string
		for k := range verbRes {
			if strings.HasPrefix(k, v+" ") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&tbl, "  %-38s %8.2f\n", k, float64(verbRes[k])/perStep)
		}
	}
	b.Logf("%s", tbl.String())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (l *events) reset() {
	l.mu.Lock()
	l.all = nil
	l.mu.Unlock()
}

type stepTime struct {
	name string
	mean time.Duration
	n    int
}

// stepTimes returns the mean time of each step, from its StepStarted to its
// StepSucceeded event, in the order the steps first started.
func (l *events) stepTimes() []stepTime {
	l.mu.Lock()
	defer l.mu.Unlock()
	var order []string
	started := map[string]time.Time{}
	sums := map[string]time.Duration{}
	counts := map[string]int{}
	for _, ev := range l.all {
		switch ev.Type {
		case strategy.EventStepStarted:
			if _, ok := sums[ev.StepName]; !ok {
				order = append(order, ev.StepName)
				sums[ev.StepName] = 0
			}
			started[ev.StepName] = ev.Time
		case strategy.EventStepSucceeded:
			if s, ok := started[ev.StepName]; ok {
				sums[ev.StepName] += ev.Time.Sub(s)
				counts[ev.StepName]++
				delete(started, ev.StepName)
			}
		}
	}
	var out []stepTime
	for _, name := range order {
		if n := counts[name]; n > 0 {
			out = append(out, stepTime{name, sums[name] / time.Duration(n), n})
		}
	}
	return out
}

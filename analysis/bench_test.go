package analysis_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// thousand returns an analysis of n metrics with Func providers, each
// measured count times a minute apart.
func thousand(n, count int) analysis.Analysis {
	a := analysis.Analysis{Name: "bench"}
	for i := range n {
		v := float64(i%7) / 1000
		a.Metrics = append(a.Metrics, analysis.Metric{
			Name:     fmt.Sprintf("m%04d", i),
			Provider: analysis.Func(func(context.Context, analysis.Query) (analysis.Result, error) { return analysis.Result{Value: v}, nil }),
			Interval: time.Minute,
			Count:    count,
			Success:  analysis.Below(0.01),
			Failure:  analysis.Above(0.05),
		})
	}
	return a
}

// BenchmarkThousandMetrics runs 1,000 metrics of 5 measurements each at
// once on a fake clock. "auto-advance" lets the clock move by itself, as
// under a strategy's driver (each move waits for the clock's quiet window
// of 1ms real time); "step" moves it by hand as soon as every measurement
// of an interval is in, which is the cost of the analysis itself.
func BenchmarkThousandMetrics(b *testing.B) {
	const metrics, count = 1000, 5
	a := thousand(metrics, count)
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*metrics*count), "ns/measurement")
	}
	b.Run("auto-advance", func(b *testing.B) {
		for b.Loop() {
			clk := fake.NewClock(t0)
			clk.SetAutoAdvance(true)
			idle, _, done := clk.Track()
			idle()
			rep, err := a.Run(context.Background(), strategy.CheckInput{Clock: clk})
			done()
			clk.SetAutoAdvance(false)
			if err != nil || rep.Phase != analysis.PhaseSuccessful {
				b.Fatal(err, rep)
			}
		}
		report(b)
	})
	b.Run("step", func(b *testing.B) {
		for b.Loop() {
			clk := fake.NewClock(t0)
			measured := make(chan struct{}, metrics)
			in := strategy.CheckInput{Clock: clk, Emit: func(strategy.Event) { measured <- struct{}{} }}
			out := make(chan error, 1)
			go func() {
				rep, err := a.Run(context.Background(), in)
				if err == nil && rep.Phase != analysis.PhaseSuccessful {
					err = fmt.Errorf("phase %s: %s", rep.Phase, rep.Message)
				}
				out <- err
			}()
			for i := range count {
				for range metrics {
					<-measured
				}
				if i < count-1 {
					for clk.Waiters() < metrics {
						// Each callback schedules its next measurement right after it emits.
						runtime.Gosched()
					}
					clk.Step(time.Minute)
				}
			}
			if err := <-out; err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
}

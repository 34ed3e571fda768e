package analysis_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/analysis/judge"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// exampleClock is a fake clock that moves by itself whenever the analysis
// waits, as it does under a strategy's driver.
func exampleClock() (*fake.Clock, func()) {
	clk := fake.NewClock(time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC))
	clk.SetAutoAdvance(true)
	idle, _, done := clk.Track()
	idle()
	return clk, func() { done(); clk.SetAutoAdvance(false) }
}

func Example() {
	clk, stop := exampleClock()
	defer stop()

	// A Go function stands in for Prometheus here.
	errorRate := analysis.Func(func(_ context.Context, q analysis.Query) (analysis.Result, error) {
		return analysis.Result{Value: 0.071}, nil
	})
	a := analysis.Analysis{
		Name: "post-promotion",
		Metrics: []analysis.Metric{{
			Name:         "error-rate",
			Provider:     errorRate,
			Query:        `sum(rate(http_errors{version="{{.Revision}}"}[1m])) / sum(rate(http_requests{version="{{.Revision}}"}[1m]))`,
			Interval:     time.Minute,
			Count:        3,
			FailureLimit: 2,
			Failure:      analysis.Expr("result > 0.05"),
		}},
	}
	in := strategy.CheckInput{Clock: clk, Emit: func(e strategy.Event) {
		m := e.Measurement
		fmt.Println(m.Time.Format("15:04"), m.Metric, m.Phase, m.Value)
	}}
	rep, err := a.Run(context.Background(), in)
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Phase)
	fmt.Println(rep.Message)
	// Output:
	// 12:00 error-rate Failed 0.071
	// 12:01 error-rate Failed 0.071
	// 12:02 error-rate Failed 0.071
	// Failed
	// metric error-rate failed 3 of 3 times (limit 2): result 0.071 > 0.05
}

func ExampleAnalysis_Check() {
	clk, stop := exampleClock()
	defer stop()

	noData := analysis.Func(func(context.Context, analysis.Query) (analysis.Result, error) {
		return analysis.Result{Samples: []float64{}, Reason: "empty vector"}, nil
	})
	check := analysis.Analysis{Name: "smoke", Metrics: []analysis.Metric{{
		Name: "p99", Provider: noData, Success: analysis.Below(0.3),
	}}}.Check()

	err := check.Func(context.Background(), strategy.CheckInput{Clock: clk})
	fmt.Println(errors.Is(err, strategy.ErrInconclusive))
	fmt.Println(err)
	// Output:
	// true
	// analysis smoke inconclusive: metric p99 was inconclusive 1 of 1 times (limit 0): no data: empty vector
}

func ExampleCompare() {
	clk, stop := exampleClock()
	defer stop()

	samples := func(vs ...float64) analysis.Func {
		return func(context.Context, analysis.Query) (analysis.Result, error) {
			return analysis.Result{Samples: vs}, nil
		}
	}
	opts := judge.DefaultMannWhitneyOptions()
	opts.Direction = judge.Increase // only slower is bad
	a := analysis.Analysis{Name: "canary", Metrics: []analysis.Metric{{
		Name: "latency",
		Provider: analysis.Compare{
			Baseline: analysis.Source{Provider: samples(101, 98, 103, 99, 102, 100, 97, 104, 100, 99)},
			Canary:   analysis.Source{Provider: samples(131, 128, 135, 129, 133, 130, 127, 136, 132, 129)},
			Options:  &opts,
		},
	}}}
	rep, err := a.Run(context.Background(), strategy.CheckInput{Clock: clk})
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Message)
	// Output:
	// metric latency failed 1 of 1 times (limit 0): canary High: shift +30.5 [27, 34] beyond margin 25 at confidence 0.98 (p 0.00037, 10 vs 10 samples)
}

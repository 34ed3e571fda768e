package judge_test

import (
	"fmt"

	"github.com/switchyard-dev/switchyard/analysis/judge"
)

func ExampleMannWhitney() {
	baseline := []float64{101, 98, 103, 99, 102, 100, 97, 104, 100, 99}
	canary := []float64{131, 128, 135, 129, 133, 130, 127, 136, 132, 129}
	opts := judge.DefaultMannWhitneyOptions()
	opts.Direction = judge.Increase // higher latency is bad
	r, err := judge.MannWhitney(baseline, canary, opts)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: shift %.1f [%.1f, %.1f], margin %.1f, p %.2g\n",
		r.Decision, r.Effect.Estimate, r.Effect.Lower, r.Effect.Upper, r.Margin, r.DecisionPValue)
	// Output: High: shift 30.5 [27.0, 34.0], margin 25.0, p 0.00037
}

func ExampleScore() {
	r, err := judge.Score([]judge.MetricOutcome{
		{Name: "p99 latency", Group: "latency", Decision: judge.High},
		{Name: "p50 latency", Group: "latency", Decision: judge.Pass},
		{Name: "error ratio", Group: "errors", Decision: judge.Pass, Critical: true},
	}, judge.ScoreOptions{
		GroupWeights:      map[string]float64{"latency": 40, "errors": 60},
		PassThreshold:     95,
		MarginalThreshold: 75,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Score, r.Verdict)
	// Output: 80 Marginal
}

func ExampleSPRT() {
	s, err := judge.NewSPRT(judge.SPRTOptions{P0: 0.01, P1: 0.03, Alpha: 0.05, Beta: 0.1})
	if err != nil {
		panic(err)
	}
	for _, interval := range [][2]int64{{3, 100}, {9, 100}} {
		d, _ := s.Observe(interval[0], interval[1])
		fmt.Printf("%s %.2f\n", d, s.LLR())
	}
	// Output:
	// Continue 1.32
	// Reject 9.35
}

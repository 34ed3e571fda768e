package analysis_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/analysis/judge"
)

// latencies returns a provider of n log-normal samples around median,
// with a spread of 0.2, different at each call but the same run to run.
func latencies(seed uint64, median float64, n int) analysis.Func {
	rng := rand.New(rand.NewPCG(seed, 7))
	return func(context.Context, analysis.Query) (analysis.Result, error) {
		s := make([]float64, n)
		for i := range s {
			s[i] = median * math.Exp(0.2*rng.NormFloat64())
		}
		return analysis.Result{Samples: s}, nil
	}
}

func value(v float64) analysis.Func {
	return func(context.Context, analysis.Query) (analysis.Result, error) { return analysis.Result{Value: v}, nil }
}

// sensitive judges a 5% increase of the median as a failure.
func sensitive() *judge.MannWhitneyOptions {
	o := judge.DefaultMannWhitneyOptions()
	o.Direction = judge.Increase
	o.Tolerance = 0.05
	return &o
}

func TestCompareAsMetric(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		canaryMedian float64
		canaryN      int
		want         analysis.Phase
		message      string
	}{
		"A/A passes":        {canaryMedian: 100, canaryN: 100, want: analysis.PhaseSuccessful},
		"20% slower fails":  {canaryMedian: 120, canaryN: 100, want: analysis.PhaseFailed, message: "canary High: shift +"},
		"20% faster passes": {canaryMedian: 80, canaryN: 100, want: analysis.PhaseSuccessful},
		"too few samples":   {canaryMedian: 100, canaryN: 3, want: analysis.PhaseInconclusive, message: "no data: too few samples: baseline 100, canary 3 (need 5 each)"},
		"no canary samples": {canaryMedian: 100, canaryN: 0, want: analysis.PhaseInconclusive, message: "no data: no samples: baseline 100, canary 0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := analysis.Metric{
				Name: "latency",
				Provider: analysis.Compare{
					Baseline: analysis.Source{Provider: latencies(1, 100, 100), Query: "baseline {{.Stable}}"},
					Canary:   analysis.Source{Provider: latencies(2, tc.canaryMedian, tc.canaryN), Query: "canary {{.Revision}}"},
					Options:  sensitive(),
				},
				Interval: time.Minute,
				Count:    3,
			}
			rep, _, err := run(t, context.Background(), analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m}})
			require.NoError(t, err)
			assert.Equal(t, tc.want, rep.Phase, rep.Message)
			assert.Contains(t, rep.Message, tc.message)
			if tc.want == analysis.PhaseSuccessful {
				assert.Equal(t, 3, rep.Metrics[0].Successful)
			}
			if tc.want == analysis.PhaseFailed {
				assert.InDelta(t, 20, rep.Metrics[0].Measurements[0].Value, 10, "the value is the shift")
			}
		})
	}
}

func TestCompareRendersItsQueries(t *testing.T) {
	t.Parallel()
	var seen []string
	rec := func(v float64) analysis.Func {
		return func(_ context.Context, q analysis.Query) (analysis.Result, error) {
			seen = append(seen, q.Text)
			return analysis.Result{Samples: []float64{v, v + 1, v + 2, v + 3, v + 4}}, nil
		}
	}
	c := analysis.Compare{
		Baseline: analysis.Source{Provider: rec(1), Query: `lat{version="{{.Stable}}"}`},
		Canary:   analysis.Source{Provider: rec(1), Query: `lat{version="{{.Revision}}"}`},
	}
	d, err := c.Decide(context.Background(), analysis.Query{Vars: analysis.Vars{Revision: "v2", Stable: "v1"}})
	require.NoError(t, err)
	assert.Equal(t, judge.Pass, d.Decision)
	assert.Equal(t, []string{`lat{version="v1"}`, `lat{version="v2"}`}, seen)
}

func TestProportionAsMetric(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		canaryErrors, canaryRequests float64
		want                         analysis.Phase
		message                      string
	}{
		"same error ratio passes": {canaryErrors: 10, canaryRequests: 1000, want: analysis.PhaseSuccessful},
		"six times the errors fails": {canaryErrors: 60, canaryRequests: 1000, want: analysis.PhaseFailed,
			message: "canary High: error ratio 0.06 vs baseline 0.01"},
		"too few requests": {canaryErrors: 1, canaryRequests: 10, want: analysis.PhaseInconclusive, message: "too few requests"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := analysis.Metric{
				Name: "errors",
				Provider: analysis.Proportion{
					BaselineErrors:   analysis.Source{Provider: value(10)},
					BaselineRequests: analysis.Source{Provider: value(1000)},
					CanaryErrors:     analysis.Source{Provider: value(tc.canaryErrors)},
					CanaryRequests:   analysis.Source{Provider: value(tc.canaryRequests)},
				},
			}
			rep, _, err := run(t, context.Background(), analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m}})
			require.NoError(t, err)
			assert.Equal(t, tc.want, rep.Phase, rep.Message)
			assert.Contains(t, rep.Message, tc.message)
		})
	}
}

func TestProportionRejectsNegativeCounts(t *testing.T) {
	t.Parallel()
	p := analysis.Proportion{
		BaselineErrors:   analysis.Source{Provider: value(-1)},
		BaselineRequests: analysis.Source{Provider: value(10)},
		CanaryErrors:     analysis.Source{Provider: value(1)},
		CanaryRequests:   analysis.Source{Provider: value(10)},
	}
	_, err := p.Measure(context.Background(), analysis.Query{})
	require.ErrorContains(t, err, "baseline errors: count -1 is not a non-negative number")
}

// perInterval returns errors and requests providers of a canary that fails
// rate of its requests per interval.
func perInterval(rate float64, requests float64) (errs, reqs analysis.Func) {
	return value(math.Round(rate * requests)), value(requests)
}

func TestSequentialAsMetric(t *testing.T) {
	t.Parallel()
	opts := judge.SPRTOptions{P0: 0.01, P1: 0.03, Alpha: 0.05, Beta: 0.1}
	tests := map[string]struct {
		rate     float64
		want     analysis.Phase
		measured int
		message  string
	}{
		"a clearly bad canary fails within a few intervals": {rate: 0.1, want: analysis.PhaseFailed, measured: 1,
			message: "error ratio 0.1 over 100 requests is at least 0.03"},
		"a clean canary passes early": {rate: 0, want: analysis.PhaseSuccessful, measured: 2},
		"a borderline canary stays undecided": {rate: 0.018, want: analysis.PhaseInconclusive, measured: 4,
			message: "metric sprt undecided after 4 measurements: no decision"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			errs, reqs := perInterval(tc.rate, 100)
			m := analysis.Metric{
				Name:     "sprt",
				Provider: analysis.Sequential{Errors: analysis.Source{Provider: errs}, Requests: analysis.Source{Provider: reqs}, Options: opts},
				Interval: time.Minute,
				Count:    4,
			}
			a := analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m}}
			for range 2 { // each run starts a fresh test
				rep, _, err := run(t, context.Background(), a)
				require.NoError(t, err)
				assert.Equal(t, tc.want, rep.Phase, rep.Message)
				assert.Equal(t, tc.measured, rep.Metrics[0].Count)
				assert.Contains(t, rep.Message, tc.message)
			}
		})
	}
}

func TestSequentialNeedsOpen(t *testing.T) {
	t.Parallel()
	_, err := analysis.Sequential{}.Measure(context.Background(), analysis.Query{})
	require.Error(t, err)
}

func TestScoreAsMetric(t *testing.T) {
	t.Parallel()
	compare := func(canaryMedian float64) analysis.Compare {
		return analysis.Compare{
			Baseline: analysis.Source{Provider: latencies(3, 100, 60)},
			Canary:   analysis.Source{Provider: latencies(4, canaryMedian, 60)},
			Options:  sensitive(),
		}
	}
	errorsOK := analysis.Proportion{
		BaselineErrors: analysis.Source{Provider: value(5)}, BaselineRequests: analysis.Source{Provider: value(1000)},
		CanaryErrors: analysis.Source{Provider: value(5)}, CanaryRequests: analysis.Source{Provider: value(1000)},
	}
	tests := map[string]struct {
		judges []analysis.Scored
		opts   *judge.ScoreOptions
		want   analysis.Phase
		score  float64
	}{
		"all pass": {judges: []analysis.Scored{
			{Name: "p50", Group: "latency", Judge: compare(100)},
			{Name: "errors", Group: "errors", Judge: errorsOK},
		}, want: analysis.PhaseSuccessful, score: 100},
		"half the latency group fails": {judges: []analysis.Scored{
			{Name: "p50", Group: "latency", Judge: compare(100)},
			{Name: "p99", Group: "latency", Judge: compare(130)},
			{Name: "errors", Group: "errors", Judge: errorsOK},
		}, opts: &judge.ScoreOptions{GroupWeights: map[string]float64{"latency": 50, "errors": 50}, PassThreshold: 95, MarginalThreshold: 70},
			want: analysis.PhaseInconclusive, score: 75},
		"below the marginal threshold": {judges: []analysis.Scored{
			{Name: "p50", Group: "latency", Judge: compare(100)},
			{Name: "p99", Group: "latency", Judge: compare(130)},
		}, want: analysis.PhaseFailed, score: 50},
		"critical failure": {judges: []analysis.Scored{
			{Name: "p50", Group: "latency", Judge: compare(100)},
			{Name: "p90", Group: "latency", Judge: compare(100)},
			{Name: "p99", Group: "latency", Judge: compare(130), Critical: true},
		}, opts: &judge.ScoreOptions{PassThreshold: 60, MarginalThreshold: 50}, want: analysis.PhaseFailed, score: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := analysis.Metric{Name: "score", Provider: analysis.Score{Judges: tc.judges, Options: tc.opts}}
			rep, _, err := run(t, context.Background(), analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m}})
			require.NoError(t, err)
			assert.Equal(t, tc.want, rep.Phase, rep.Message)
			ms := rep.Metrics[0].Measurements
			require.Len(t, ms, 1)
			assert.InDelta(t, tc.score, ms[0].Value, 1e-9)
			assert.Contains(t, ms[0].Raw, tc.judges[0].Name+": canary Pass")
		})
	}
}

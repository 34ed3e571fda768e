package analysis_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/strategy"
)

func TestMeasurementPhase(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		success, failure analysis.Condition
		value            float64
		want             analysis.Phase
		message          string
	}{
		"no conditions":             {value: 1, want: analysis.PhaseSuccessful, message: "result 1"},
		"success only, holds":       {success: analysis.Below(0.01), value: good, want: analysis.PhaseSuccessful, message: "result 0.005 < 0.01"},
		"success only, fails":       {success: analysis.Below(0.01), value: bad, want: analysis.PhaseFailed, message: "result 0.071 not < 0.01"},
		"failure only, holds":       {failure: analysis.Above(0.05), value: bad, want: analysis.PhaseFailed, message: "result 0.071 > 0.05"},
		"failure only, does not":    {failure: analysis.Above(0.05), value: good, want: analysis.PhaseSuccessful, message: "result 0.005 not > 0.05"},
		"both, success":             {success: analysis.Below(0.01), failure: analysis.Above(0.05), value: good, want: analysis.PhaseSuccessful},
		"both, failure":             {success: analysis.Below(0.01), failure: analysis.Above(0.05), value: bad, want: analysis.PhaseFailed},
		"both, neither":             {success: analysis.Below(0.01), failure: analysis.Above(0.05), value: unsure, want: analysis.PhaseInconclusive, message: "result 0.03 not < 0.01 and result 0.03 not > 0.05"},
		"both hold: failure wins":   {success: analysis.AtLeast(0), failure: analysis.Above(0.05), value: bad, want: analysis.PhaseFailed},
		"CEL failure, simple":       {failure: analysis.Expr("result > 0.05"), value: bad, want: analysis.PhaseFailed, message: "result 0.071 > 0.05"},
		"CEL success, general":      {success: analysis.Expr("result < 0.01 || result == 1.0"), value: bad, want: analysis.PhaseFailed, message: `result 0.071 does not meet success condition "result < 0.01 || result == 1.0"`},
		"CEL int literal":           {success: analysis.Expr("result >= 2"), value: 3, want: analysis.PhaseSuccessful},
		"CEL evaluation error":      {success: analysis.Expr("result[2] < 1.0"), value: 3, want: analysis.PhaseError, message: "evaluating"},
		"Go predicate error":        {success: analysis.Predicate("p99 fine", func(analysis.Result) (bool, error) { return false, errors.New("boom") }), want: analysis.PhaseError, message: "boom"},
		"Go predicate, described":   {failure: analysis.Predicate("over budget", func(r analysis.Result) (bool, error) { return r.Value > 2, nil }), value: 3, want: analysis.PhaseFailed, message: `result 3 meets failure condition "over budget"`},
		"AtMost holds at the bound": {success: analysis.AtMost(0.05), value: 0.05, want: analysis.PhaseSuccessful},
		"AtLeast fails below":       {success: analysis.AtLeast(10), value: 9, want: analysis.PhaseFailed, message: "result 9 not >= 10"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, _ := script(step{v: tc.value})
			m := analysis.Metric{Name: "m", Provider: p, Success: tc.success, Failure: tc.failure,
				ConsecutiveErrorLimit: ptr.To(0)}
			rep, _, err := run(t, context.Background(), analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m}})
			require.NoError(t, err)
			require.Len(t, rep.Metrics[0].Measurements, 1)
			got := rep.Metrics[0].Measurements[0]
			assert.Equal(t, tc.want, got.Phase)
			assert.Contains(t, got.Message, tc.message)
			assert.Equal(t, tc.want, rep.Phase, "one measurement decides a metric with the default limits")
		})
	}
}

func TestSampleSetConditions(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		samples []float64
		cond    analysis.Condition
		want    analysis.Phase
	}{
		"threshold holds for every sample": {samples: []float64{0.1, 0.2}, cond: analysis.Below(0.3), want: analysis.PhaseSuccessful},
		"threshold fails for one sample":   {samples: []float64{0.1, 0.4}, cond: analysis.Below(0.3), want: analysis.PhaseFailed},
		"CEL index":                        {samples: []float64{0.01, 0.9}, cond: analysis.Expr("result[0] < 0.05"), want: analysis.PhaseSuccessful},
		"CEL all":                          {samples: []float64{0.01, 0.9}, cond: analysis.Expr("result.all(x, x < 0.5)"), want: analysis.PhaseFailed},
		"CEL size":                         {samples: []float64{1, 2, 3}, cond: analysis.Expr("size(result) == 3"), want: analysis.PhaseSuccessful},
		"CEL on a list compared as scalar": {samples: []float64{1}, cond: analysis.Expr("result < 2.0"), want: analysis.PhaseError},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, _ := script(step{samples: tc.samples})
			m := analysis.Metric{Name: "m", Provider: p, Success: tc.cond, ConsecutiveErrorLimit: ptr.To(0)}
			rep, _, err := run(t, context.Background(), analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m}})
			require.NoError(t, err)
			assert.Equal(t, tc.want, rep.Metrics[0].Measurements[0].Phase, rep.Metrics[0].Measurements[0].Message)
		})
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		steps  []step
		metric func(*analysis.Metric)
		want   analysis.Phase
		// measured is the number of provider calls, errors included.
		measured int32
		message  string
	}{
		"count reached":             {steps: []step{sGood}, want: analysis.PhaseSuccessful, measured: 3, message: "metric m successful: 3 of 3 measurements successful"},
		"failure limit 0 (default)": {steps: []step{sGood, sBad}, want: analysis.PhaseFailed, measured: 2, message: "metric m failed 1 of 2 times (limit 0): result 0.071 > 0.05"},
		"failure limit 2 hit": {steps: []step{sBad}, metric: func(m *analysis.Metric) { m.FailureLimit = 2; m.Count = 5 },
			want: analysis.PhaseFailed, measured: 3, message: "metric m failed 3 of 3 times (limit 2): result 0.071 > 0.05"},
		"failure limit 2 not hit": {steps: []step{sGood, sBad, sGood, sBad, sGood}, metric: func(m *analysis.Metric) { m.FailureLimit = 2; m.Count = 5 },
			want: analysis.PhaseSuccessful, measured: 5, message: "3 of 5 measurements successful, 2 failed (limit 2)"},
		"inconclusive limit 0 (default)": {steps: []step{sUnsure}, want: analysis.PhaseInconclusive, measured: 1,
			message: "metric m was inconclusive 1 of 1 times (limit 0): result 0.03 not < 0.01 and result 0.03 not > 0.05"},
		"inconclusive limit 1 hit": {steps: []step{sUnsure, sGood, sUnsure}, metric: func(m *analysis.Metric) { m.InconclusiveLimit = 1; m.Count = 4 },
			want: analysis.PhaseInconclusive, measured: 3},
		"inconclusive limit 1 not hit": {steps: []step{sUnsure, sGood, sGood}, metric: func(m *analysis.Metric) { m.InconclusiveLimit = 1 },
			want: analysis.PhaseSuccessful, measured: 3},
		"consecutive errors past the default 4": {steps: []step{sErr}, want: analysis.PhaseError, measured: 5,
			message: "metric m errored 5 times in a row (limit 4): connection refused"},
		"four errors in a row are tolerated": {steps: []step{sErr, sErr, sErr, sErr, sGood, sGood, sGood}, want: analysis.PhaseSuccessful, measured: 7,
			message: "3 of 3 measurements successful, 4 errors"},
		"error streak broken by a success": {steps: []step{sErr, sErr, sGood, sErr, sErr, sGood, sGood}, metric: func(m *analysis.Metric) { m.ConsecutiveErrorLimit = ptr.To(2) },
			want: analysis.PhaseSuccessful, measured: 7},
		"consecutive error limit 0": {steps: []step{sErr}, metric: func(m *analysis.Metric) { m.ConsecutiveErrorLimit = ptr.To(0) },
			want: analysis.PhaseError, measured: 1, message: "errored 1 times in a row (limit 0)"},
		"consecutive success limit reached early": {steps: []step{sBad, sGood, sGood}, metric: func(m *analysis.Metric) {
			m.Count, m.FailureLimit, m.ConsecutiveSuccessLimit = 10, 3, 2
		}, want: analysis.PhaseSuccessful, measured: 3, message: "metric m successful 2 times in a row"},
		"count reached without the success streak": {steps: []step{sGood, sBad, sGood, sBad}, metric: func(m *analysis.Metric) {
			m.Count, m.FailureLimit, m.ConsecutiveSuccessLimit = 4, 3, 2
		}, want: analysis.PhaseInconclusive, measured: 4, message: "took 4 measurements without 2 successes in a row"},
		"no data is inconclusive by default": {steps: []step{sEmpty}, want: analysis.PhaseInconclusive, measured: 1, message: "no data: scripted"},
		"no data as failure": {steps: []step{sEmpty}, metric: func(m *analysis.Metric) { m.NoData = analysis.NoDataFailure },
			want: analysis.PhaseFailed, measured: 1, message: "no data: scripted (counted as Failed)"},
		"no data as success": {steps: []step{sEmpty}, metric: func(m *analysis.Metric) { m.NoData = analysis.NoDataSuccess },
			want: analysis.PhaseSuccessful, measured: 3},
		"empty sample set is no data": {steps: []step{{samples: []float64{}}}, want: analysis.PhaseInconclusive, measured: 1, message: "no data"},
		"provider verdict":            {steps: []step{{verdict: analysis.PhaseFailed}}, want: analysis.PhaseFailed, measured: 1, message: "scripted"},
		"undecided until the count": {steps: []step{{verdict: analysis.PhaseRunning}}, want: analysis.PhaseInconclusive, measured: 3,
			message: "metric m undecided after 3 measurements: scripted"},
		"provider ends the metric early": {steps: []step{{verdict: analysis.PhaseRunning}, {verdict: analysis.PhaseSuccessful, done: true}},
			want: analysis.PhaseSuccessful, measured: 2},
		"unknown verdict is an error": {steps: []step{{verdict: "Maybe"}}, metric: func(m *analysis.Metric) { m.ConsecutiveErrorLimit = ptr.To(0) },
			want: analysis.PhaseError, measured: 1, message: `unknown verdict "Maybe"`},
		"single measurement without interval": {steps: []step{sGood}, metric: func(m *analysis.Metric) { m.Interval, m.Count = 0, 0 },
			want: analysis.PhaseSuccessful, measured: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, calls := script(tc.steps...)
			m := thresholdMetric("m", p)
			if tc.metric != nil {
				tc.metric(&m)
			}
			rep, _, err := run(t, context.Background(), analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m}})
			require.NoError(t, err)
			assert.Equal(t, tc.want, rep.Phase, rep.Message)
			assert.Equal(t, tc.want, rep.Metrics[0].Phase)
			assert.Equal(t, tc.measured, calls.Load())
			assert.Contains(t, rep.Metrics[0].Message, tc.message)
			if tc.want != analysis.PhaseSuccessful {
				assert.Contains(t, rep.Message, tc.message, "the run's message names the metric's")
			}
		})
	}
}

func TestTiming(t *testing.T) {
	t.Parallel()
	p, _ := script(sErr, sGood, sGood, sErr, sGood)
	m := thresholdMetric("m", p)
	m.InitialDelay = 30 * time.Second
	rep, evs, err := run(t, context.Background(), analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m}})
	require.NoError(t, err)
	require.Equal(t, analysis.PhaseSuccessful, rep.Phase)
	var got []time.Duration
	for _, ms := range rep.Metrics[0].Measurements {
		got = append(got, ms.Time.Sub(t0))
	}
	// An error is retried after 10s; successes follow the interval.
	want := []time.Duration{30 * time.Second, 40 * time.Second, 100 * time.Second, 160 * time.Second, 170 * time.Second}
	assert.Equal(t, want, got)
	assert.Equal(t, t0, rep.Started)
	assert.Equal(t, t0.Add(170*time.Second), rep.Finished)
	require.Len(t, evs, 5)
	for i, ev := range evs {
		assert.Equal(t, strategy.EventMeasurement, ev.Type)
		assert.Equal(t, t0.Add(want[i]), ev.Time)
	}
}

func TestErrorIntervalFollowsShortIntervals(t *testing.T) {
	t.Parallel()
	p, _ := script(sErr, sGood)
	m := thresholdMetric("m", p)
	m.Interval, m.Count = 3*time.Second, 1
	rep, _, err := run(t, context.Background(), analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m}})
	require.NoError(t, err)
	ms := rep.Metrics[0].Measurements
	require.Len(t, ms, 2)
	assert.Equal(t, 3*time.Second, ms[1].Time.Sub(ms[0].Time))
}

func TestRunTakesTheWorstPhase(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		a, b    []step
		dryRunB bool
		want    analysis.Phase
		message []string
	}{
		"all successful": {a: []step{sGood}, b: []step{sGood}, want: analysis.PhaseSuccessful, message: []string{"2 of 2 metrics successful"}},
		"failed and successful": {a: []step{sGood}, b: []step{sGood, sGood, sBad}, want: analysis.PhaseFailed,
			message: []string{"metric b failed 1 of 3 times"}},
		"inconclusive and successful": {a: []step{sGood}, b: []step{sGood, sUnsure}, want: analysis.PhaseInconclusive,
			message: []string{"metric b was inconclusive 1 of 2 times"}},
		"the first decision stops the run": {a: []step{sGood, sGood, sUnsure}, b: []step{sErr}, want: analysis.PhaseError,
			message: []string{"metric b errored 5 times in a row"}},
		"dry run failure does not count": {a: []step{sGood}, b: []step{sBad}, dryRunB: true, want: analysis.PhaseSuccessful,
			message: []string{"1 of 1 metrics successful", "dry run: metric b failed 1 of 1 times"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pa, _ := script(tc.a...)
			pb, _ := script(tc.b...)
			mb := thresholdMetric("b", pb)
			mb.DryRun = tc.dryRunB
			rep, _, err := run(t, context.Background(), analysis.Analysis{Name: "a", Metrics: []analysis.Metric{thresholdMetric("a", pa), mb}})
			require.NoError(t, err)
			assert.Equal(t, tc.want, rep.Phase)
			for _, msg := range tc.message {
				assert.Contains(t, rep.Message, msg)
			}
		})
	}
}

func TestWorst(t *testing.T) {
	t.Parallel()
	order := []analysis.Phase{analysis.PhaseSuccessful, analysis.PhaseRunning, analysis.PhasePending,
		analysis.PhaseInconclusive, analysis.PhaseError, analysis.PhaseFailed}
	for i, p := range order {
		for j, q := range order {
			assert.Equal(t, i > j, p.Worse(q), "%s worse than %s", p, q)
		}
	}
	assert.Equal(t, analysis.PhaseSuccessful, analysis.Worst())
	assert.Equal(t, analysis.PhaseError, analysis.Worst(analysis.PhaseRunning, analysis.PhaseError, analysis.PhaseInconclusive))
	for _, p := range order {
		assert.Equal(t, p != analysis.PhaseRunning && p != analysis.PhasePending, p.Done(), p)
	}
}

func TestAFailedMetricStopsTheRun(t *testing.T) {
	t.Parallel()
	forever, calls := script(sGood)
	m := thresholdMetric("forever", forever)
	m.Count, m.Interval = 0, 50*time.Second // until stopped; never due at the same time as "bad"
	bad, _ := script(sGood, sGood, sBad)
	rep, _, err := run(t, context.Background(), analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m, thresholdMetric("bad", bad)}})
	require.NoError(t, err)
	assert.Equal(t, analysis.PhaseFailed, rep.Phase)
	assert.Equal(t, int32(3), calls.Load(), "the endless metric stopped with the failed one")
	assert.Equal(t, analysis.PhaseSuccessful, rep.Metric("forever").Phase)
	assert.Equal(t, t0.Add(2*time.Minute), rep.Finished)
}

func TestUntilStopped(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		steps   []step
		metric  func(*analysis.Metric)
		want    analysis.Phase
		count   int
		wantErr bool
		message string
	}{
		"no count: successful when stopped":   {steps: []step{sGood}, want: analysis.PhaseSuccessful, count: 3, message: "successful until stopped"},
		"no count: failed stays failed":       {steps: []step{sGood, sBad}, want: analysis.PhaseFailed, count: 2},
		"no count: undecided is inconclusive": {steps: []step{{verdict: analysis.PhaseRunning}}, want: analysis.PhaseInconclusive, count: 3},
		"no count: streak not reached":        {steps: []step{sGood}, metric: func(m *analysis.Metric) { m.ConsecutiveSuccessLimit = 5 }, want: analysis.PhaseInconclusive, count: 3},
		"count not reached: interrupted": {steps: []step{sGood}, metric: func(m *analysis.Metric) { m.Count = 10 },
			want: analysis.PhaseRunning, count: 3, wantErr: true, message: "stopped after 3 of 10 measurements"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			inner, _ := script(tc.steps...)
			var n int
			// The fourth measurement cancels the run; it is not counted.
			p := analysis.Func(func(c context.Context, q analysis.Query) (analysis.Result, error) {
				if n++; n == 4 {
					cancel()
					<-c.Done()
				}
				return inner(c, q)
			})
			m := thresholdMetric("m", p)
			m.Count = 0
			if tc.metric != nil {
				tc.metric(&m)
			}
			rep, _, err := run(t, ctx, analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m}})
			if tc.wantErr {
				require.ErrorIs(t, err, context.Canceled)
			} else {
				require.NoError(t, err)
			}
			require.NotNil(t, rep)
			assert.Equal(t, tc.want, rep.Phase, rep.Message)
			assert.Equal(t, tc.count, rep.Metrics[0].Count)
			assert.Contains(t, rep.Metrics[0].Message, tc.message)
		})
	}
}

func TestCancelBeforeFirstMeasurement(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, calls := script(sGood)
	rep, _, err := run(t, ctx, analysis.Analysis{Name: "a", Metrics: []analysis.Metric{thresholdMetric("m", p)}})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, analysis.PhasePending, rep.Phase)
	assert.Zero(t, calls.Load())
}

func TestKeepAndEvents(t *testing.T) {
	t.Parallel()
	p, _ := script(sGood, step{v: 0.002}, step{v: 0.003}, step{v: 0.004}, sBad)
	m := thresholdMetric("error-rate", p)
	m.Count, m.Keep = 5, 2
	rep, evs, err := run(t, context.Background(), analysis.Analysis{Name: "post-promotion", Metrics: []analysis.Metric{m}})
	require.NoError(t, err)
	mr := rep.Metric("error-rate")
	require.NotNil(t, mr)
	require.Len(t, mr.Measurements, 2, "keep bounds the report")
	assert.Equal(t, 0.004, mr.Measurements[0].Value)
	assert.Equal(t, bad, mr.Measurements[1].Value)
	assert.Equal(t, 5, mr.Count)
	assert.Equal(t, "metric error-rate failed 1 of 5 times (limit 0): result 0.071 > 0.05", rep.Message)

	require.Len(t, evs, 5, "every measurement is emitted, whatever the report keeps")
	last := evs[4]
	assert.Equal(t, strategy.EventMeasurement, last.Type)
	require.NotNil(t, last.Measurement)
	assert.Equal(t, strategy.Measurement{Analysis: "post-promotion", Metric: "error-rate", Phase: "Failed", Value: "0.071",
		Time: t0.Add(4 * time.Minute), Message: "result 0.071 > 0.05", Limit: "result < 0.01"}, *last.Measurement)
	assert.Equal(t, "analysis post-promotion metric error-rate: Failed: result 0.071 > 0.05", last.Message)
}

func TestErrorMeasurementHasNoValue(t *testing.T) {
	t.Parallel()
	p, _ := script(sErr, sEmpty)
	m := thresholdMetric("m", p)
	rep, evs, err := run(t, context.Background(), analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m}})
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, "", evs[0].Measurement.Value)
	assert.Equal(t, "Error", evs[0].Measurement.Phase)
	assert.Equal(t, "connection refused", evs[0].Measurement.Message)
	assert.Equal(t, "", evs[1].Measurement.Value, "no data has no value")
	assert.Equal(t, analysis.PhaseInconclusive, rep.Phase)
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		steps           []step
		inconclusive    bool
		failed          bool
		wantNil         bool
		wantReportPhase analysis.Phase
	}{
		"successful passes":   {steps: []step{sGood}, wantNil: true},
		"inconclusive pauses": {steps: []step{sUnsure}, inconclusive: true, wantReportPhase: analysis.PhaseInconclusive},
		"failed aborts":       {steps: []step{sBad}, failed: true, wantReportPhase: analysis.PhaseFailed},
		"error aborts":        {steps: []step{sErr}, failed: true, wantReportPhase: analysis.PhaseError},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, _ := script(tc.steps...)
			a := analysis.Analysis{Name: "smoke", Metrics: []analysis.Metric{thresholdMetric("m", p)}}
			c := a.Check()
			assert.Equal(t, "smoke", c.Name)
			err := c.Func(context.Background(), autoInput(t, nil))
			if tc.wantNil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			var f *analysis.Failure
			require.ErrorAs(t, err, &f)
			assert.Equal(t, tc.wantReportPhase, f.Report.Phase)
			assert.Equal(t, tc.inconclusive, errors.Is(err, strategy.ErrInconclusive))
			wrapped := &strategy.CheckError{Check: c.Name, Err: err}
			assert.Equal(t, tc.failed, errors.Is(wrapped, strategy.ErrAnalysisFailed))
			assert.True(t, strings.HasPrefix(err.Error(), "analysis smoke "), err.Error())
		})
	}
}

func TestCheckReturnsValidationAndContextErrors(t *testing.T) {
	t.Parallel()
	err := analysis.Analysis{Name: "x"}.Check().Func(context.Background(), autoInput(t, nil))
	require.ErrorIs(t, err, strategy.ErrInvalid)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, _ := script(sGood)
	err = analysis.Analysis{Name: "x", Metrics: []analysis.Metric{thresholdMetric("m", p)}}.Check().Func(ctx, autoInput(t, nil))
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, errors.Is(err, strategy.ErrInconclusive))
}

func TestQueryTemplate(t *testing.T) {
	t.Parallel()
	var got []analysis.Query
	p := analysis.Func(func(_ context.Context, q analysis.Query) (analysis.Result, error) {
		got = append(got, q)
		return analysis.Result{Value: 1}, nil
	})
	a := analysis.Analysis{
		Name: "a",
		Args: map[string]string{"window": "5m", "job-name": "cart"},
		Metrics: []analysis.Metric{{
			Name:     "m",
			Provider: p,
			Query:    `rate(errors{ns="{{.Namespace}}",app="{{.App}}",version="{{.Revision}}",stable="{{.Stable}}",slot="{{.Slot}}",svc="{{.Service}}",job="{{arg "job-name"}}"}[{{.Args.window}}])`,
		}},
	}
	_, _, err := run(t, context.Background(), a)
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, `rate(errors{ns="shop",app="cart",version="v2",stable="v1",slot="cart-green",svc="cart-preview",job="cart"}[5m])`, got[0].Text)
	assert.Equal(t, "m", got[0].Metric)
	assert.Equal(t, t0, got[0].Start)
	assert.Equal(t, "cart-green", got[0].Input.Slot)
}

func TestWithTimeout(t *testing.T) {
	t.Parallel()
	clk := fakeClock()
	ctx, cancel := analysis.WithTimeout(context.Background(), clk, 5*time.Second)
	defer cancel()
	clk.Step(4 * time.Second)
	require.NoError(t, ctx.Err())
	clk.Step(time.Second)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the context did not end at the timeout")
	}
	assert.ErrorIs(t, context.Cause(ctx), context.DeadlineExceeded)
	assert.EqualError(t, context.Cause(ctx), "timed out after 5s")

	ctx2, cancel2 := analysis.WithTimeout(context.Background(), clk, 0)
	cancel2()
	assert.ErrorIs(t, ctx2.Err(), context.Canceled, "no timeout; cancel still works")
}

// slow is a Starter whose measurements finish after polls polls.
type slow struct {
	polls   int
	started atomic.Int32
	stopped atomic.Int32
	polled  atomic.Int32
	block   bool // never finish
}

type slowRun struct {
	s *slow
	n int
}

func (s *slow) Measure(context.Context, analysis.Query) (analysis.Result, error) {
	return analysis.Result{}, errors.New("Run must use Start")
}

func (s *slow) Start(context.Context, analysis.Query) (analysis.Pending, error) {
	s.started.Add(1)
	return &slowRun{s: s}, nil
}

func (r *slowRun) Poll(context.Context) (analysis.Result, bool, error) {
	r.s.polled.Add(1)
	if r.n++; r.n < r.s.polls || r.s.block {
		return analysis.Result{}, false, nil
	}
	return analysis.Result{Value: good}, true, nil
}

func (r *slowRun) PollInterval() time.Duration { return 5 * time.Second }
func (r *slowRun) Stop(context.Context)        { r.s.stopped.Add(1) }

func TestStarterIsPolledOnTheClock(t *testing.T) {
	t.Parallel()
	s := &slow{polls: 3}
	m := thresholdMetric("job", s)
	m.Count = 2
	rep, _, err := run(t, context.Background(), analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m}})
	require.NoError(t, err)
	assert.Equal(t, analysis.PhaseSuccessful, rep.Phase)
	ms := rep.Metrics[0].Measurements
	require.Len(t, ms, 2)
	assert.Equal(t, t0.Add(15*time.Second), ms[0].Time, "done at the third poll, 5s apart")
	assert.Equal(t, t0.Add(time.Minute+15*time.Second), ms[1].Time, "the next measurement starts an interval after the last")
	assert.Equal(t, int32(2), s.started.Load())
	assert.Equal(t, int32(6), s.polled.Load())
	assert.Equal(t, int32(2), s.stopped.Load(), "each measurement is released")
}

func TestStarterIsReleasedWhenTheRunStops(t *testing.T) {
	t.Parallel()
	s := &slow{block: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A second metric cancels the run at its third measurement.
	var n atomic.Int32
	stopper := analysis.Func(func(c context.Context, _ analysis.Query) (analysis.Result, error) {
		if n.Add(1) == 3 {
			cancel()
		}
		return analysis.Result{Value: good}, nil
	})
	stop := thresholdMetric("stopper", stopper)
	stop.Count = 0
	rep, _, err := run(t, ctx, analysis.Analysis{Name: "a", Metrics: []analysis.Metric{thresholdMetric("job", s), stop}})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, analysis.PhasePending, rep.Metric("job").Phase)
	assert.Equal(t, int32(1), s.started.Load())
	assert.Equal(t, int32(1), s.stopped.Load(), "the running measurement is released")
	assert.Positive(t, s.polled.Load())
}

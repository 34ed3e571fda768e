package canary_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// errorAnalysis measures the canary's error ratio over the last 30s on
// the fake every 30s, count measurements (0: until stopped).
func errorAnalysis(c *fake.Cluster, count int, cel string) analysis.Analysis {
	return analysis.Analysis{Name: "errors", Metrics: []analysis.Metric{{
		Name:  "error-ratio",
		Query: "{{.Revision}}",
		Provider: analysis.Func(func(_ context.Context, q analysis.Query) (analysis.Result, error) {
			r, ok := c.Metrics().ErrorRatio(q.Text, 30*time.Second)
			return analysis.Result{Value: r, NoData: !ok}, nil
		}),
		InitialDelay: 30 * time.Second,
		Interval:     30 * time.Second,
		Count:        count,
		Success:      analysis.Expr(cel),
	}}}
}

func TestBackgroundAnalysisFromTheAnalysisPackage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		errorRate float64
		want      strategy.Phase
	}{{"good", 0, strategy.PhaseSucceeded}, {"bad", 0.2, strategy.PhaseAborted}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, routingNamed("GatewayHTTPRoute"))
			e.c.SetBehavior("v2", fake.Behavior{ErrorRate: tc.errorRate})
			stop := e.c.SendLoad(e.r.entry, 100, fake.Request{})
			defer stop()
			spec := e.spec(canary.SetWeight{Percent: 10}, canary.Pause{Duration: 5 * time.Minute}, canary.SetWeight{Percent: 50},
				canary.Pause{Duration: 5 * time.Minute})
			spec.Background = &canary.Background{StartingStep: 1, Checks: []strategy.Check{errorAnalysis(e.c, 0, "result <= 0.05").Check()}}
			e.install(spec)
			start := e.c.Clock().Now()
			var measured int
			obs := strategy.WithObserver(func(ev strategy.Event) {
				if ev.Type == strategy.EventMeasurement {
					measured++
				}
			})
			res, err := e.strategy(spec, "driver-a", obs).Run(testCtx(t), release("v2"))
			assert.Equal(t, tc.want, res.Phase)
			if tc.want == strategy.PhaseAborted {
				require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
				assert.Equal(t, 1, measured, "the first measurement fails the release")
				assert.Less(t, res.Finished.Sub(start), 2*time.Minute, "without waiting for the pause to end")
				assert.Equal(t, map[string]float64{"v1": 1}, e.observe().Serving)
				return
			}
			require.NoError(t, err)
			assert.GreaterOrEqual(t, measured, 19, "measured every 30s through both pauses")
			assert.Equal(t, map[string]float64{"v2": 1}, e.observe().Serving)
		})
	}
}

func TestBadAnalysisStepIsRejectedBeforeAnyWrite(t *testing.T) {
	e := newEnv(t, routingNamed("ReplicaRatio"))
	spec := e.spec(canary.SetWeight{Percent: 10}, canary.Analysis{Checks: []strategy.Check{errorAnalysis(e.c, 2, "result <").Check()}})
	spec.Background = &canary.Background{Checks: []strategy.Check{errorAnalysis(e.c, -1, "true").Check()}}
	e.c.ResetRequests()
	_, err := e.strategy(spec, "driver-a").Run(testCtx(t), release("v1"))
	requireInvalid(t, err, "spec.steps[1].analysis.checks[0].metrics[0].successCondition")
	requireInvalid(t, err, "spec.background.checks[0].metrics[0].count")
	for k := range e.c.Requests() {
		assert.Contains(t, []string{"get", "list", "watch"}, k.Verb)
	}
}

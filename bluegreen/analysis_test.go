package bluegreen_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// previewErrors is an analysis of the error ratio of requests sent to the
// preview Service on the fake: four measurements 15 seconds apart, after
// 15 seconds of traffic; one failure is tolerated.
func previewErrors(c *fake.Cluster, cel string) analysis.Analysis {
	return analysis.Analysis{Name: "preview-errors", Metrics: []analysis.Metric{{
		Name:  "error-ratio",
		Query: "{{.Revision}}",
		Provider: analysis.Func(func(_ context.Context, q analysis.Query) (analysis.Result, error) {
			r, ok := c.Metrics().ErrorRatio(q.Text, 15*time.Second)
			return analysis.Result{Value: r, NoData: !ok}, nil
		}),
		InitialDelay: 15 * time.Second,
		Interval:     15 * time.Second,
		Count:        4,
		FailureLimit: 1,
		Success:      analysis.Expr(cel),
	}}}
}

func TestPrePromotionAnalysis(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	stop := c.SendLoad(fake.Entry{Kind: fake.EntryService, Namespace: app.Namespace, Name: "web-preview"}, 50, fake.Request{})
	defer stop()
	spec := baseSpec()
	spec.PrePromotion = []strategy.Check{previewErrors(c, "result <= 0.05").Check()}
	var measured []strategy.Measurement
	obs := strategy.WithObserver(func(e strategy.Event) {
		if e.Type == strategy.EventMeasurement {
			measured = append(measured, *e.Measurement)
		}
	})
	res, err := newStrategy(c, spec, "driver-a", obs).Run(ctx, release("v1"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	require.Len(t, measured, 4)

	c.SetBehavior("v2", fake.Behavior{ErrorRate: 0.1})
	measured = nil
	res, err = newStrategy(c, spec, "driver-a", obs).Run(ctx, release("v2"))
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
	assert.Contains(t, res.Message, "failed 2 of 2 times (limit 1): result 0.1 not <= 0.05")
	assert.Len(t, measured, 2, "the analysis stopped at the second failure")
	assert.Equal(t, "blue", observe(t, c).Active, "traffic never left v1")
	st, err := strategy.NewControl(c.Clients().Kube).Status(ctx, app)
	require.NoError(t, err)
	require.Len(t, st.Measurements, 2, "the record keeps the measurements")
	assert.Equal(t, "Failed", st.Measurements[1].Phase)
}

func TestBadAnalysisIsRejectedBeforeAnyWrite(t *testing.T) {
	c := newCluster(t)
	spec := baseSpec()
	spec.PrePromotion = []strategy.Check{previewErrors(c, "result + 1").Check()}
	c.ResetRequests()
	_, err := newStrategy(c, spec, "driver-a").Run(testCtx(t), release("v1"))
	var ve *strategy.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.True(t, ve.Has("spec.prePromotion[0].metrics[0].successCondition"), ve.Error())
	for k := range c.Requests() {
		assert.Contains(t, []string{"get", "list", "watch"}, k.Verb)
	}
}

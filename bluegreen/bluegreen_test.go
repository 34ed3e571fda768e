package bluegreen_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

func TestFirstReleaseThenUpdateFlipsSlots(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	s := newStrategy(c, baseSpec(), "driver-a")

	res, err := s.Run(ctx, release("v1"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3}, Active: "blue", Preview: "blue",
		Phase: strategy.PhaseSucceeded, Revision: "v1", Stable: "v1"}, observe(t, c))

	blue, err := c.Clients().Kube.AppsV1().Deployments(app.Namespace).Get(ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	res, err = s.Run(ctx, release("v2"))
	require.NoError(t, err)
	assert.Equal(t, "v2", res.Stable)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3}, Green: slotState{"v2", 3, 3}, Active: "green", Preview: "green",
		Phase: strategy.PhaseSucceeded, Revision: "v2", Stable: "v2"}, observe(t, c),
		"the rollback window keeps the old slot running")
	after, err := c.Clients().Kube.AppsV1().Deployments(app.Namespace).Get(ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, blue.Generation, after.Generation, "the live slot is not touched by a release")
}

func TestRollbackWindowZeroScalesOldSlotDownAfterDelay(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	spec := baseSpec()
	spec.RollbackWindow = ptr.To(0)
	s := newStrategy(c, spec, "driver-a")
	_, err := s.Run(ctx, release("v1"))
	require.NoError(t, err)
	var switched time.Time
	obs := strategy.WithObserver(func(e strategy.Event) {
		if e.Type == strategy.EventTraffic {
			switched = e.Time
		}
	})
	res, err := newStrategy(c, spec, "driver-a", obs).Run(ctx, release("v2"))
	require.NoError(t, err)
	assert.Equal(t, switched.Add(bluegreen.DefaultScaleDownDelay), res.Finished, "scale-down waits exactly ScaleDownDelay")
	got := observe(t, c)
	assert.Equal(t, slotState{"v1", 0, 0}, got.Blue)
	assert.Equal(t, slotState{"v2", 3, 3}, got.Green)
	assert.Equal(t, "green", got.Active)
}

func TestManualPromotionPausesUntilPromote(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	spec := baseSpec()
	spec.ManualPromotion = true
	s := newStrategy(c, spec, "driver-a")
	done := make(chan error, 1)
	go func() { _, err := s.Run(ctx, release("v1")); done <- err }()
	waitPhase(t, c, strategy.PhasePaused)
	control := strategy.NewControl(c.Clients().Kube, strategy.WithIdentity("operator"))
	require.NoError(t, control.Promote(ctx, app))
	require.NoError(t, <-done)

	go func() { _, err := s.Run(ctx, release("v2")); done <- err }()
	waitPhase(t, c, strategy.PhasePaused)
	paused := observe(t, c)
	assert.Equal(t, "blue", paused.Active, "traffic stays on the live slot while paused")
	assert.Equal(t, "green", paused.Preview, "the preview Service reaches the new slot")
	assert.Equal(t, slotState{"v2", 3, 3}, paused.Green)
	require.NoError(t, control.Promote(ctx, app))
	require.NoError(t, <-done)
	assert.Equal(t, "green", observe(t, c).Active)
}

func TestAbortByRequestReturnsTrafficAndScalesCandidateDown(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	spec := baseSpec()
	s := newStrategy(c, spec, "driver-a")
	_, err := s.Run(ctx, release("v1"))
	require.NoError(t, err)

	spec.ManualPromotion = true
	done := make(chan *strategy.Result, 1)
	go func() { res, _ := newStrategy(c, spec, "driver-a").Run(ctx, release("v2")); done <- res }()
	waitPhase(t, c, strategy.PhasePaused)
	require.NoError(t, strategy.NewControl(c.Clients().Kube, strategy.WithIdentity("operator")).Abort(ctx, app))
	res := <-done
	require.ErrorIs(t, res.Err(), strategy.ErrAborted)
	assert.Contains(t, res.Message, "aborted by operator")
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3}, Green: slotState{"v2", 0, 0}, Active: "blue", Preview: "green",
		Phase: strategy.PhaseAborted, Revision: "v2", Stable: "v1"}, observe(t, c))
}

func TestFailedPrePromotionCheckAborts(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	s := newStrategy(c, baseSpec(), "driver-a")
	_, err := s.Run(ctx, release("v1"))
	require.NoError(t, err)

	spec := baseSpec()
	var saw strategy.CheckInput
	spec.PrePromotion = []strategy.Check{{Name: "smoke", Func: func(_ context.Context, in strategy.CheckInput) error {
		saw = in
		return errors.New("GET /healthz returned 500")
	}}}
	res, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v2"))
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
	assert.Equal(t, strategy.PhaseAborted, res.Phase)
	assert.Contains(t, res.Message, "check smoke failed: GET /healthz returned 500")
	assert.Equal(t, "web-preview", saw.Service)
	assert.Equal(t, "web-green", saw.Slot)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3}, Green: slotState{"v2", 0, 0}, Active: "blue", Preview: "green",
		Phase: strategy.PhaseAborted, Revision: "v2", Stable: "v1"}, observe(t, c))

	// Retry runs the same revision again; the check passes this time.
	require.NoError(t, strategy.NewControl(c.Clients().Kube).Retry(ctx, app))
	res, err = s.Run(ctx, release("v2"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	assert.Equal(t, "green", observe(t, c).Active)
}

func TestProgressDeadlineAborts(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	spec := baseSpec()
	spec.ProgressDeadline = 2 * time.Minute
	s := newStrategy(c, spec, "driver-a")
	_, err := s.Run(ctx, release("v1"))
	require.NoError(t, err)
	c.SetBehavior("v2", fake.Behavior{NeverReady: true})
	res, err := s.Run(ctx, release("v2"))
	require.ErrorIs(t, err, strategy.ErrProgressDeadline)
	assert.Equal(t, strategy.PhaseAborted, res.Phase)
	got := observe(t, c)
	assert.Equal(t, "blue", got.Active)
	assert.Equal(t, slotState{"v2", 0, 0}, got.Green)
}

func TestFailedPostPromotionCheckSwitchesBack(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	_, err := newStrategy(c, baseSpec(), "driver-a").Run(ctx, release("v1"))
	require.NoError(t, err)
	spec := baseSpec()
	spec.PostPromotion = []strategy.Check{{Name: "error-rate", Func: func(_ context.Context, in strategy.CheckInput) error {
		return errors.New("5% errors")
	}}}
	res, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v2"))
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
	assert.Equal(t, strategy.PhaseAborted, res.Phase)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3}, Green: slotState{"v2", 0, 0}, Active: "blue", Preview: "green",
		Phase: strategy.PhaseAborted, Revision: "v2", Stable: "v1"}, observe(t, c))
}

func TestPromoteSentEarlyIsKeptForThePromotion(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	spec := baseSpec()
	spec.ManualPromotion = true
	waiting, started := signal(strategy.EventWaiting)
	s := newStrategy(c, spec, "driver-a", waiting)
	done := make(chan error, 1)
	go func() { _, err := s.Run(ctx, release("v1")); done <- err }()
	<-started // waiting for the preview pods: too early to promote
	require.NoError(t, strategy.NewControl(c.Clients().Kube).Promote(ctx, app))
	require.NoError(t, <-done, "the Promote sent while pods were starting promoted the release")
	assert.Equal(t, "blue", observe(t, c).Active)
}

package bluegreen_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/strategy"
)

// fullSpec has every step of a release do something: a one-pod preview,
// checks before and after the switch that take ten seconds each, an
// automatic promotion, and a scale-down delay with no rollback window.
func fullSpec(check func(context.Context, strategy.CheckInput) error) bluegreen.Spec {
	spec := baseSpec()
	spec.PreviewReplicas = ptr.To[int32](1)
	spec.AutoPromotionAfter = 20 * time.Second
	spec.RollbackWindow = ptr.To(0)
	spec.PrePromotion = []strategy.Check{{Name: "pre", Func: check}}
	spec.PostPromotion = []strategy.Check{{Name: "post", Func: check}}
	return spec
}

// tenSeconds is a check that takes ten seconds of the driver's clock, or
// ends early when its context does.
func tenSeconds(cancelled *atomic.Int32) func(context.Context, strategy.CheckInput) error {
	return func(ctx context.Context, in strategy.CheckInput) error {
		t := in.Clock.NewTimer(10 * time.Second)
		defer t.Stop()
		select {
		case <-t.C():
			return nil
		case <-ctx.Done():
			cancelled.Add(1)
			return ctx.Err()
		}
	}
}

// atStep returns an option whose observer, when step starts, sends a
// control request from another goroutine and waits until it is written.
func atStep(t *testing.T, step string, send func(ctx context.Context) error) strategy.Option {
	var sent atomic.Bool
	return strategy.WithObserver(func(e strategy.Event) {
		if e.Type != strategy.EventStepStarted || e.StepName != step || !sent.CompareAndSwap(false, true) {
			return
		}
		done := make(chan error, 1)
		go func() { done <- send(testCtx(t)) }()
		assert.NoError(t, <-done, "the request at step %s is accepted", step)
	})
}

// TestAbortAtEveryStep aborts a release from another goroutine as each of
// its steps starts, before, during and after the switch: traffic goes back
// to v1 in one selector write, an independent watch of the Service's
// EndpointSlices never sees fewer than the stable size, and no request is
// left pending.
func TestAbortAtEveryStep(t *testing.T) {
	steps := []string{"deploy", "preview-available", "pre-promotion", "promotion", "full-available",
		"switch", "verify-endpoints", "post-promotion", "scale-down"}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			c := newCluster(t)
			var cancelled atomic.Int32
			spec := fullSpec(tenSeconds(&cancelled))
			_, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v1"))
			require.NoError(t, err)
			ready := watchReadyEndpoints(t, c, "web")
			waitMinimum(t, ready, 3)

			control := strategy.NewControl(c.Clients().Kube, strategy.WithIdentity("operator"))
			abort := atStep(t, step, func(ctx context.Context) error { return control.Abort(ctx, app) })
			res, err := newStrategy(c, spec, "driver-a", abort).Run(ctx, release("v2"))
			require.ErrorIs(t, err, strategy.ErrAborted)
			assert.Equal(t, strategy.PhaseAborted, res.Phase)
			assert.Equal(t, "v1", res.Stable)
			got := observe(t, c)
			assert.Equal(t, "blue", got.Active, "traffic is back on v1")
			assert.Equal(t, slotState{"v1", 3, 3}, got.Blue, "v1 kept every pod")
			assert.Zero(t, got.Green.Replicas, "the aborted slot is scaled down")
			assert.Zero(t, got.RecordPending, "no request is left pending")
			assert.GreaterOrEqual(t, ready.min(), 3, "the Service never had fewer than 3 ready endpoints")
		})
	}
}

// TestAbortDuringPostPromotionCheckCancelsIt is the case a user saw: an
// Abort during a post-promotion check used to be accepted and ignored.
func TestAbortDuringPostPromotionCheckCancelsIt(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	var cancelled atomic.Int32
	spec := baseSpec()
	spec.PostPromotion = []strategy.Check{{Name: "slow", Func: func(ctx context.Context, in strategy.CheckInput) error {
		<-ctx.Done() // a check that would run for ever
		cancelled.Add(1)
		return ctx.Err()
	}}}
	_, err := newStrategy(c, baseSpec(), "driver-a").Run(ctx, release("v1"))
	require.NoError(t, err)
	control := strategy.NewControl(c.Clients().Kube, strategy.WithIdentity("operator"))
	abort := atStep(t, "post-promotion", func(ctx context.Context) error { return control.Abort(ctx, app) })
	res, err := newStrategy(c, spec, "driver-a", abort).Run(ctx, release("v2"))
	require.ErrorIs(t, err, strategy.ErrAborted)
	assert.Contains(t, res.Message, "aborted by operator")
	assert.EqualValues(t, 1, cancelled.Load(), "the check's context was cancelled")
	got := observe(t, c)
	assert.Equal(t, "blue", got.Active)
	assert.Equal(t, "v1", got.Stable)
}

// TestUndoDuringPostPromotionSwitchesBack: Undo to the previous revision
// after the switch sends traffic back at once; the Run of v2 says it did
// not ship v2.
func TestUndoDuringPostPromotionSwitchesBack(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	var cancelled atomic.Int32
	spec := fullSpec(tenSeconds(&cancelled))
	_, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v1"))
	require.NoError(t, err)
	control := strategy.NewControl(c.Clients().Kube, strategy.WithIdentity("operator"))
	undo := atStep(t, "post-promotion", func(ctx context.Context) error {
		// Only the previous revision can be undone to after the switch.
		err := control.Undo(ctx, app, "v0")
		if !errors.Is(err, strategy.ErrUnknownRevision) {
			return errors.Join(errors.New("undo to an unknown revision was not refused"), err)
		}
		return control.Undo(ctx, app, "v1")
	})
	res, err := newStrategy(c, spec, "driver-a", undo).Run(ctx, release("v2"))
	require.ErrorIs(t, err, strategy.ErrSuperseded)
	assert.Contains(t, res.Message, "undone to v1")
	got := observe(t, c)
	assert.Equal(t, "blue", got.Active, "v1 serves again")
	assert.Equal(t, "v1", got.Stable)
	assert.Zero(t, got.RecordPending)
}

// TestAbortRefusedOnceTheOldSlotGoes: once the release has committed (its
// old slot is being scaled down), Abort is refused with a clear error
// instead of being accepted and dropped. The scale-down is made to fail so
// that the release stays there.
func TestAbortRefusedOnceTheOldSlotGoes(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	spec := baseSpec()
	spec.RollbackWindow = ptr.To(0)
	_, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v1"))
	require.NoError(t, err)
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web-blue", errors.New("no"))
	var once atomic.Bool
	obs := strategy.WithObserver(func(e strategy.Event) {
		if e.Type == strategy.EventWaiting && strings.Contains(e.Message, "old pods keep running") && once.CompareAndSwap(false, true) {
			c.FailRequests("patch", "deployments", forbidden, 0)
		}
	})
	_, err = newStrategy(c, spec, "driver-a", obs).Run(ctx, release("v2"))
	require.ErrorContains(t, err, "forbidden", "the scale-down failed for good")
	c.ClearFaults()
	st, err := strategy.NewControl(c.Clients().Kube).Status(ctx, app)
	require.NoError(t, err)
	require.Equal(t, strategy.PhasePromoting, st.Phase)

	err = strategy.NewControl(c.Clients().Kube).Abort(ctx, app)
	var pe *strategy.PhaseError
	require.ErrorAs(t, err, &pe)
	assert.ErrorIs(t, err, strategy.ErrNotApplicable)
	assert.Contains(t, err.Error(), "pods are being removed")
	st, err = strategy.NewControl(c.Clients().Kube).Status(ctx, app)
	require.NoError(t, err)
	assert.Empty(t, st.Pending, "nothing was queued")

	// The next Run finishes the scale-down.
	res, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v2"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	assert.Zero(t, observe(t, c).Blue.Replicas)
}

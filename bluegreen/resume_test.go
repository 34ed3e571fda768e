package bluegreen_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/testkit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// TestCrashAfterEveryWriteResumes stops the driver of a release right after
// each of its writes in turn; a new driver, once the lease has lapsed,
// completes it with the same end state as a run that never crashed.
func TestCrashAfterEveryWriteResumes(t *testing.T) {
	spec := baseSpec()
	setup := func(t *testing.T) (*fake.Cluster, *testkit.Crasher) {
		c := newCluster(t)
		cr := &testkit.Crasher{}
		cr.Install(c)
		_, err := newStrategy(c, spec, "driver-a").Run(testCtx(t), release("v1"))
		require.NoError(t, err)
		return c, cr
	}

	c, cr := setup(t)
	cr.Arm(0, func() {})
	_, err := newStrategy(c, spec, "driver-a").Run(testCtx(t), release("v2"))
	require.NoError(t, err)
	n := cr.Disarm()
	want := observe(t, c)
	require.Greater(t, n, 5)
	t.Logf("a release makes %d writes", n)

	for k := 1; k < n; k++ {
		t.Run(fmt.Sprintf("after write %d", k), func(t *testing.T) {
			c, cr := setup(t)
			ctx, cancel := context.WithCancel(testCtx(t))
			cr.Arm(k, cancel)
			if _, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v2")); err == nil {
				// A lease renewal that meets one of the driver's writes counts
				// as one more write, so that a run can end within k writes; the
				// next Run then finds the release ended, in the same state.
				t.Logf("the release ended within %d writes", k)
			}
			cr.Disarm()

			c.Clock().Step(strategy.DefaultLeaseDuration)
			res, err := newStrategy(c, spec, "driver-b").Run(testCtx(t), release("v2"))
			require.NoError(t, err)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			assert.Equal(t, want, observe(t, c))
		})
	}
}

// TestCrashDuringAnAbortResumes stops the driver right after each write of
// a release that is aborted during its post-promotion check, the abort's
// own writes included; the next driver with the same identity carries the
// abort out: traffic on v1, which kept every pod, and v2 scaled down.
func TestCrashDuringAnAbortResumes(t *testing.T) {
	spec := baseSpec()
	spec.PostPromotion = []strategy.Check{{Name: "slow", Func: func(ctx context.Context, _ strategy.CheckInput) error {
		<-ctx.Done()
		return ctx.Err()
	}}}
	// abort sends an Abort from another goroutine as the check starts; the
	// write may be the one a crash fails, which the next driver survives.
	abort := func(c *fake.Cluster) strategy.Option {
		control := strategy.NewControl(c.Clients().Kube, strategy.WithIdentity("operator"))
		return atStep(t, "post-promotion", func(ctx context.Context) error { _ = control.Abort(ctx, app); return nil })
	}
	setup := func(t *testing.T) (*fake.Cluster, *testkit.Crasher) {
		c := newCluster(t)
		cr := &testkit.Crasher{}
		cr.Install(c)
		_, err := newStrategy(c, baseSpec(), "driver-a").Run(testCtx(t), release("v1"))
		require.NoError(t, err)
		return c, cr
	}
	want := endState{Blue: slotState{"v1", 3, 3}, Green: slotState{"v2", 0, 0}, Active: "blue", Preview: "green",
		Phase: strategy.PhaseAborted, Revision: "v2", Stable: "v1"}

	c, cr := setup(t)
	cr.Arm(0, func() {})
	_, err := newStrategy(c, spec, "driver-a", abort(c)).Run(testCtx(t), release("v2"))
	require.ErrorIs(t, err, strategy.ErrAborted)
	n := cr.Disarm()
	require.Equal(t, want, observe(t, c))

	for k := 1; k < n; k++ {
		t.Run(fmt.Sprintf("after write %d", k), func(t *testing.T) {
			c, cr := setup(t)
			ctx, cancel := context.WithCancel(testCtx(t))
			cr.Arm(k, cancel)
			if _, err := newStrategy(c, spec, "driver-a", abort(c)).Run(ctx, release("v2")); err == nil {
				// A lease renewal that meets one of the driver's writes counts
				// as one more write, so that a run can end within k writes; the
				// next Run then finds the release ended, in the same state.
				t.Logf("the release ended within %d writes", k)
			}
			cr.Disarm()
			_, err = newStrategy(c, spec, "driver-a", abort(c)).Run(testCtx(t), release("v2"))
			require.ErrorIs(t, err, strategy.ErrAborted)
			assert.Equal(t, want, observe(t, c))
		})
	}
}

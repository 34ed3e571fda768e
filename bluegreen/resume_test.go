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
			_, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v2"))
			require.Error(t, err, "the first driver stops")
			cr.Disarm()

			c.Clock().Step(strategy.DefaultLeaseDuration)
			res, err := newStrategy(c, spec, "driver-b").Run(testCtx(t), release("v2"))
			require.NoError(t, err)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			assert.Equal(t, want, observe(t, c))
		})
	}
}

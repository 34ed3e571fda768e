package canary_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/internal/testkit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// TestCrashAfterEveryWriteResumes stops the driver of a canary right after
// each of its writes in turn (every step boundary is one); a new driver,
// once the lease has lapsed, completes the release with the same end state
// as a run that never crashed.
func TestCrashAfterEveryWriteResumes(t *testing.T) {
	ok := strategy.Check{Name: "ok", Func: func(context.Context, strategy.CheckInput) error { return nil }}
	steps := []canary.Step{canary.SetWeight{Percent: 20}, canary.Pause{Duration: time.Minute}, canary.SetWeight{Percent: 60},
		canary.Analysis{Checks: []strategy.Check{ok}}, canary.SetWeight{Percent: 100}}
	for _, rname := range []string{"GatewayHTTPRoute", "ReplicaRatio"} {
		t.Run(rname, func(t *testing.T) {
			t.Parallel()
			setup := func(t *testing.T) (*env, *testkit.Crasher) {
				e := newEnv(t, routingNamed(rname))
				cr := &testkit.Crasher{}
				cr.Install(e.c)
				e.install(e.spec(steps...))
				return e, cr
			}
			e, cr := setup(t)
			cr.Arm(0, func() {})
			_, err := e.strategy(e.spec(steps...), "driver-a").Run(testCtx(t), release("v2"))
			require.NoError(t, err)
			n := cr.Disarm()
			want := e.observe()
			require.Greater(t, n, 8)
			t.Logf("a release makes %d writes", n)

			for k := 1; k < n; k++ {
				t.Run(fmt.Sprintf("after write %d", k), func(t *testing.T) {
					t.Parallel()
					e, cr := setup(t)
					ctx, cancel := context.WithCancel(testCtx(t))
					cr.Arm(k, cancel)
					if _, err := e.strategy(e.spec(steps...), "driver-a").Run(ctx, release("v2")); err == nil {
						// A lease renewal that meets one of the driver's writes counts
						// as one more write, so that a run can end within k writes; the
						// next Run then finds the release ended, in the same state.
						t.Logf("the release ended within %d writes", k)
					}
					cr.Disarm()

					e.c.Clock().Step(strategy.DefaultLeaseDuration)
					res, err := e.strategy(e.spec(steps...), "driver-b").Run(testCtx(t), release("v2"))
					require.NoError(t, err)
					assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
					assert.Equal(t, want, e.observe())
				})
			}
		})
	}
}

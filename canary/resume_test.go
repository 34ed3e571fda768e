package canary_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// crasher counts the writes a driver makes (corev1 Events aside) and, once
// armed, fails write k+1 and cancels the driver, as if its process died
// right after write k.
type crasher struct {
	mu     sync.Mutex
	writes int
	stopAt int // 0: never
	cancel context.CancelFunc
}

func (cr *crasher) install(c *fake.Cluster) {
	c.Clientset().PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete", "deletecollection":
		default:
			return false, nil, nil
		}
		if a.GetResource().Resource == "events" {
			return false, nil, nil
		}
		cr.mu.Lock()
		defer cr.mu.Unlock()
		if cr.stopAt > 0 && cr.writes >= cr.stopAt {
			cr.cancel()
			return true, nil, context.Canceled
		}
		cr.writes++
		return false, nil, nil
	})
}

func (cr *crasher) arm(k int, cancel context.CancelFunc) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.writes, cr.stopAt, cr.cancel = 0, k, cancel
}

func (cr *crasher) disarm() int {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.stopAt = 0
	return cr.writes
}

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
			setup := func(t *testing.T) (*env, *crasher) {
				e := newEnv(t, routingNamed(rname))
				cr := &crasher{}
				cr.install(e.c)
				e.install(e.spec(steps...))
				return e, cr
			}
			e, cr := setup(t)
			cr.arm(0, func() {})
			_, err := e.strategy(e.spec(steps...), "driver-a").Run(testCtx(t), release("v2"))
			require.NoError(t, err)
			n := cr.disarm()
			want := e.observe()
			require.Greater(t, n, 8)
			t.Logf("a release makes %d writes", n)

			for k := 1; k < n; k++ {
				t.Run(fmt.Sprintf("after write %d", k), func(t *testing.T) {
					t.Parallel()
					e, cr := setup(t)
					ctx, cancel := context.WithCancel(testCtx(t))
					cr.arm(k, cancel)
					_, err := e.strategy(e.spec(steps...), "driver-a").Run(ctx, release("v2"))
					require.Error(t, err, "the first driver stops")
					cr.disarm()

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

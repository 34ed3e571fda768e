package bluegreen_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// crasher counts the writes a driver makes (corev1 Events aside) and, once armed, stops the
// driver just before write k+1, as if its process died right after write k.
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
			return false, nil, nil // best effort: a lost Event changes nothing
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

func (cr *crasher) disarm() (writes int) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.stopAt = 0
	return cr.writes
}

// TestCrashAfterEveryWriteResumes stops the driver of a release right after
// each of its writes in turn; a new driver, once the lease has lapsed,
// completes it with the same end state as a run that never crashed.
func TestCrashAfterEveryWriteResumes(t *testing.T) {
	spec := baseSpec()
	setup := func(t *testing.T) (*fake.Cluster, *crasher) {
		c := newCluster(t)
		cr := &crasher{}
		cr.install(c)
		_, err := newStrategy(c, spec, "driver-a").Run(testCtx(t), release("v1"))
		require.NoError(t, err)
		return c, cr
	}

	c, cr := setup(t)
	cr.arm(0, func() {})
	_, err := newStrategy(c, spec, "driver-a").Run(testCtx(t), release("v2"))
	require.NoError(t, err)
	n := cr.disarm()
	want := observe(t, c)
	require.Greater(t, n, 5)
	t.Logf("a release makes %d writes", n)

	for k := 1; k < n; k++ {
		t.Run(fmt.Sprintf("after write %d", k), func(t *testing.T) {
			c, cr := setup(t)
			ctx, cancel := context.WithCancel(testCtx(t))
			cr.arm(k, cancel)
			_, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v2"))
			require.Error(t, err, "the first driver stops")
			cr.disarm()

			c.Clock().Step(strategy.DefaultLeaseDuration)
			res, err := newStrategy(c, spec, "driver-b").Run(testCtx(t), release("v2"))
			require.NoError(t, err)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			assert.Equal(t, want, observe(t, c))
		})
	}
}

// Package testkit holds test helpers the strategies' fake-cluster tests
// share: a crash injector and a wait for a release's phase.
package testkit

import (
	"context"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// Crasher counts the writes made through a fake cluster (corev1 Events
// aside: losing one changes nothing) and, once armed, fails write k+1 and
// cancels the driver's context, as if its process died right after write
// k.
type Crasher struct {
	mu     sync.Mutex
	writes int
	stopAt int // 0: never
	cancel context.CancelFunc
}

// Install puts the crasher in front of c's clients.
func (cr *Crasher) Install(c *fake.Cluster) {
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

// Arm counts from zero and stops the driver after write k (0: never),
// calling cancel.
func (cr *Crasher) Arm(k int, cancel context.CancelFunc) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.writes, cr.stopAt, cr.cancel = 0, k, cancel
}

// Disarm stops counting toward a crash and returns the writes counted.
func (cr *Crasher) Disarm() int {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.stopAt = 0
	return cr.writes
}

// WaitPhase waits, on the release record's watch, until app's release
// reaches phase, failing t when ctx ends first.
func WaitPhase(t testing.TB, ctx context.Context, c *fake.Cluster, app types.NamespacedName, phase strategy.Phase) {
	t.Helper()
	e2ekit.WaitStatus(t, ctx, c.Clients().Kube, app, "phase "+string(phase), func(st *strategy.Status) bool { return st.Phase == phase })
}

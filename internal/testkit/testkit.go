// Package testkit holds test helpers the strategies' fake-cluster tests
// share: a crash injector and a wait for a release's phase.
package testkit

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// Crasher counts the writes made through a fake cluster (corev1 Events
// and lease renewals aside: losing one changes nothing, and renewals come
// on the lease's own schedule) and, once armed, fails write k+1 and
// cancels the driver's context, as if its process died right after write
// k.
type Crasher struct {
	mu      sync.Mutex
	writes  int
	stopAt  int // 0: never
	cancel  context.CancelFunc
	records map[string]string // the last record written, per ConfigMap, without its lease times
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
		if cr.renewal(a) {
			return false, nil, nil
		}
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

// renewal reports whether a is a write of a release record that changes
// nothing but its lease's renewal time, and remembers the record written.
func (cr *Crasher) renewal(a k8stesting.Action) bool {
	ua, ok := a.(k8stesting.UpdateAction)
	if !ok {
		return false
	}
	cm, ok := ua.GetObject().(*corev1.ConfigMap)
	if !ok || cm.Data[strategy.RecordKey] == "" {
		return false
	}
	var rec record.Record
	if json.Unmarshal([]byte(cm.Data[strategy.RecordKey]), &rec) != nil {
		return false
	}
	rec.Lease.Renewed, rec.Updated = time.Time{}, time.Time{}
	raw, _ := json.Marshal(rec)
	if cr.records == nil {
		cr.records = map[string]string{}
	}
	key := cm.Namespace + "/" + cm.Name
	same := cr.records[key] == string(raw)
	cr.records[key] = string(raw)
	return same
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

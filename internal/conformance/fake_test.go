package conformance

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-dev/switchyard/fake"
)

func TestFake(t *testing.T) {
	runSuite(t, func(t *testing.T) env {
		c := fake.NewCluster(fake.WithAutoAdvance())
		t.Cleanup(c.Stop)
		idle, busy, done := c.Clock().Track()
		t.Cleanup(done)
		kube := c.Clients().Kube
		return env{kube: kube, clock: c.Clock(), idle: idle, busy: busy, name: "fake", wire: fakeWire{c: c, kube: kube}}
	})
}

// fakeWire is the wire of a fake cluster: its request counts and faults.
type fakeWire struct {
	c    *fake.Cluster
	kube kubernetes.Interface
}

func (w fakeWire) requests(verb, resource string) int { return w.c.Requests().Count(verb, resource) }

func (w fakeWire) dropWatches(resource string) { w.c.DropWatches(resource) }

// holdWatches fails watches with 429 until release, which clears every
// injected fault: the cases hold one fault at a time.
func (w fakeWire) holdWatches(resource string) (release func()) {
	w.c.FailRequests("watch", resource, apierrors.NewTooManyRequests("conformance: watches are held", 1), 0)
	return w.c.ClearFaults
}

// churnWrites is how many writes push every earlier Event out of the fake's
// watch history, which keeps the last 1024 events of each resource
// (historySize in fake/watch.go).
const churnWrites = 1100

func (w fakeWire) compactEvents(t *testing.T, ctx context.Context, ns string) {
	t.Helper()
	evs := w.kube.CoreV1().Events(ns)
	ev, err := evs.Create(ctx, event(ns, "churn", nil), metav1.CreateOptions{})
	require.NoError(t, err)
	for i := range churnWrites {
		ev.Message = fmt.Sprintf("churn %d", i)
		ev, err = evs.Update(ctx, ev, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
}

// watcher injects the 403: the fake has no RBAC.
func (w fakeWire) watcher(t *testing.T, ctx context.Context, ns string) (kubernetes.Interface, func()) {
	return w.kube, func() {
		gr := schema.GroupResource{Resource: "configmaps"}
		w.c.FailRequests("watch", "configmaps", apierrors.NewForbidden(gr, "",
			errors.New(`User "conformance-watcher" cannot watch resource "configmaps" in API group "" in the namespace "`+ns+`"`)), 0)
		w.c.DropWatches("configmaps")
	}
}

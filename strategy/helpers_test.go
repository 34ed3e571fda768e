package strategy_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
)

var (
	t0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	app = types.NamespacedName{Namespace: "shop", Name: "web"}
)

type env struct {
	cluster *fake.Cluster
	kube    kubernetes.Interface
	clock   *fake.Clock
}

func newEnv(t *testing.T) env {
	t.Helper()
	c := fake.NewCluster(fake.WithStartTime(t0),
		fake.WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app.Namespace}}))
	t.Cleanup(c.Stop)
	return env{cluster: c, kube: c.Clients().Kube, clock: c.Clock()}
}

func (e env) clients() strategy.Clients { return e.cluster.Clients() }

func (e env) config(id string, opts ...strategy.Option) strategy.Config {
	return strategy.NewConfig(append([]strategy.Option{
		strategy.WithClock(e.clock), strategy.WithIdentity(id), strategy.WithEvents(false),
	}, opts...)...)
}

func (e env) begin(t *testing.T, ctx context.Context, id string, opts ...strategy.Option) (*flow.Driver, error) {
	t.Helper()
	return flow.Begin(ctx, "test", e.clients(), strategy.Release{App: app, Revision: "v1"}, e.config(id, opts...))
}

// waitForWaiters blocks until something waits on the fake clock.
func waitForWaiters(t *testing.T, c *fake.Clock) {
	t.Helper()
	require.Eventually(t, c.HasWaiters, 5*time.Second, time.Millisecond, "nothing waits on the clock")
}

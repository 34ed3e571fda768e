package bootstrap_test

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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

var (
	smallApp   = types.NamespacedName{Namespace: "default", Name: "small"}
	settings   = bootstrap.Ref{Kind: "ConfigMap", Namespace: "default", Name: "settings"}
	credential = bootstrap.Ref{Kind: "Secret", Namespace: "default", Name: "credential"}
	server     = bootstrap.Ref{Group: "apps", Kind: "Deployment", Namespace: "default", Name: "server"}
)

// small returns a bundle of a ConfigMap, a Secret and a Deployment that
// uses both, in namespace default.
func small(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	objs, err := bootstrap.Decode("small.yaml", strings.NewReader(`
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: default}
data: {LOG_LEVEL: info}
---
apiVersion: v1
kind: Secret
metadata: {name: credential, namespace: default}
data: {token: c2VjcmV0}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: server, namespace: default}
spec:
  selector: {matchLabels: {app: server}}
  template:
    metadata: {labels: {app: server}}
    spec:
      containers:
        - name: server
          image: server:1
          envFrom: [{configMapRef: {name: settings}}, {secretRef: {name: credential}}]
`))
	require.NoError(t, err)
	return objs
}

// finished asserts that the release record of app says phase and that no
// driver holds its lease any more.
func finished(t *testing.T, c *fake.Cluster, app types.NamespacedName, phase strategy.Phase) *strategy.Status {
	t.Helper()
	st, err := strategy.NewControl(c.Clients().Kube).Status(context.Background(), app)
	require.NoError(t, err)
	assert.Equal(t, phase, st.Phase)
	assert.Empty(t, st.Lease.Holder, "the lease is released when the run ends")
	return st
}

func TestRepeatedErrorFailsWithTheServersMessage(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	// An admission webhook that rejects the ConfigMap with a 500, every
	// time: trying again until the run's timeout would change nothing.
	msg := `failed calling webhook "policy.example.com": the object violates policy "no-debug-logging"`
	c.FailRequests("apply", "configmaps", apierrors.NewInternalError(errors.New(msg)), 0)
	var retries atomic.Int32
	s := bootstrap.New(c.Clients(), bootstrap.Spec{}, strategy.WithClock(c.Clock()), strategy.WithObserver(func(e strategy.Event) {
		if e.Type == strategy.EventRetrying && e.Object == settings.String() {
			retries.Add(1)
		}
	}))
	start := c.Clock().Now()
	rep, err := s.Apply(testCtx(t), strategy.Release{App: smallApp, Revision: "v1", Objects: small(t)})
	var fe *bootstrap.FailedError
	require.ErrorAs(t, err, &fe, "a run that did not make every object Current fails")
	require.NotNil(t, rep)
	assert.Equal(t, strategy.PhaseFailed, rep.Result.Phase)
	require.Len(t, fe.Failed, 1)
	var oe *bootstrap.ObjectError
	require.ErrorAs(t, fe.Failed[0], &oe)
	assert.Equal(t, settings, oe.Ref)
	assert.Equal(t, "apply", oe.Op)
	assert.True(t, apierrors.IsInternalError(oe), "the server's error is kept: %v", oe)
	assert.Contains(t, err.Error(), settings.String())
	assert.Contains(t, err.Error(), msg)
	assert.NotContains(t, err.Error(), "context")
	assert.Less(t, rep.Result.Finished.Sub(start), time.Minute, "given up long before the run's timeout")
	assert.InDelta(t, 4, retries.Load(), 1, "tried a few times, not until the timeout")
	o, _ := rep.Object(server)
	assert.Equal(t, bootstrap.ActionSkip, o.Action, "what uses the ConfigMap is skipped")
	st := finished(t, c, smallApp, strategy.PhaseFailed)
	assert.Contains(t, st.Message, msg)
}

func TestTimeoutIsNeverSuccess(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	// A server that throttles every apply of the ConfigMap: worth trying
	// again, until the run's timeout.
	c.FailRequests("apply", "configmaps", apierrors.NewTooManyRequests("the server is throttling configmaps", 1), 0)
	s := bootstrap.New(c.Clients(), bootstrap.Spec{Timeout: 3 * time.Minute}, strategy.WithClock(c.Clock()))
	start := c.Clock().Now()
	rep, err := s.Apply(testCtx(t), strategy.Release{App: smallApp, Revision: "v1", Objects: small(t)})
	require.Error(t, err, "an object that never became Current fails the run")
	require.NotNil(t, rep)
	assert.Equal(t, strategy.PhaseFailed, rep.Result.Phase)
	assert.True(t, errors.Is(err, strategy.ErrProgressDeadline), "%v", err)
	var te *bootstrap.TimeoutError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, settings, te.Ref)
	assert.True(t, te.Overall)
	assert.True(t, apierrors.IsTooManyRequests(te.Err), "the last error is kept: %v", te.Err)
	assert.Contains(t, err.Error(), "the server is throttling configmaps")
	took := rep.Result.Finished.Sub(start)
	assert.GreaterOrEqual(t, took, 3*time.Minute)
	assert.Less(t, took, 5*time.Minute)
	o, _ := rep.Object(settings)
	assert.False(t, o.Ready)
	var ote *bootstrap.TimeoutError
	assert.ErrorAs(t, o.Err, &ote, "the report names the timeout")
	o, _ = rep.Object(server)
	assert.Equal(t, bootstrap.ActionSkip, o.Action)
	finished(t, c, smallApp, strategy.PhaseFailed)
}

func TestSecretRejectedByTheServerIsReported(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	msg := "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 3"
	c.FailRequests("apply", "secrets", apierrors.NewInternalError(errors.New(msg)), 0)
	s := bootstrap.New(c.Clients(), bootstrap.Spec{Timeout: 24 * time.Hour}, strategy.WithClock(c.Clock()))
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	rep, err := s.Apply(ctx, strategy.Release{App: smallApp, Revision: "v1", Objects: small(t)})
	require.Error(t, err)
	require.NotNil(t, rep)
	assert.False(t, errors.Is(err, context.DeadlineExceeded), "reported long before any deadline: %v", err)
	var oe *bootstrap.ObjectError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, credential, oe.Ref)
	assert.Contains(t, err.Error(), credential.String())
	assert.Contains(t, err.Error(), "illegal base64 data at input byte 3")
	finished(t, c, smallApp, strategy.PhaseFailed)
}

func TestCancelledRunReportsAndReleasesTheLease(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.FailRequests("apply", "secrets", apierrors.NewTooManyRequests("the server is throttling secrets", 1), 0)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	var retries atomic.Int32
	s := bootstrap.New(c.Clients(), bootstrap.Spec{Rollback: true}, strategy.WithClock(c.Clock()), strategy.WithObserver(func(e strategy.Event) {
		if e.Type == strategy.EventRetrying && e.Object == credential.String() && retries.Add(1) == 3 {
			cancel() // the caller gives up
		}
	}))
	rep, err := s.Apply(ctx, strategy.Release{App: smallApp, Revision: "v1", Objects: small(t)})
	require.Error(t, err)
	require.NotNil(t, rep, "a cancelled run still reports what it did")
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.Contains(t, err.Error(), credential.String())
	assert.Contains(t, err.Error(), "the server is throttling secrets")
	o, _ := rep.Object(credential)
	assert.False(t, o.Ready)
	require.Error(t, o.Err)
	o, _ = rep.Object(server)
	assert.Equal(t, bootstrap.ActionSkip, o.Action)
	o, _ = rep.Object(settings)
	assert.True(t, o.Ready)
	assert.Zero(t, rep.Count(bootstrap.ActionDelete), "a cancelled run does not roll back")
	finished(t, c, smallApp, strategy.PhaseFailed)

	// Nothing holds the release: the next run goes at once.
	c.ClearFaults()
	rep, err = s.Apply(testCtx(t), strategy.Release{App: smallApp, Revision: "v1", Objects: small(t)})
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, rep.Result.Phase)
	finished(t, c, smallApp, strategy.PhaseSucceeded)
}

func TestDryRunGivesUpOnARepeatedError(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	msg := `failed calling webhook "policy.example.com": denied`
	c.FailRequests("apply", "configmaps", apierrors.NewInternalError(errors.New(msg)), 0)
	s := bootstrap.New(c.Clients(), bootstrap.Spec{}, strategy.WithClock(c.Clock()))
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	rep, err := s.DryRun(ctx, strategy.Release{App: smallApp, Revision: "v1", Objects: small(t)})
	require.NoError(t, err)
	o, ok := rep.Object(settings)
	require.True(t, ok)
	require.Error(t, o.Err)
	assert.Contains(t, o.Err.Error(), msg)
	assert.False(t, errors.Is(o.Err, context.DeadlineExceeded), "%v", o.Err)
	assert.NoError(t, ctx.Err(), "the dry run returned before its deadline")
}

func TestInventoryWriteFailureEndsTheRun(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	msg := `failed calling webhook "configmaps.example.com": no endpoints available`
	// Once the record is written, ConfigMaps can no longer be created:
	// the inventory cannot be.
	s := bootstrap.New(c.Clients(), bootstrap.Spec{}, strategy.WithClock(c.Clock()), strategy.WithObserver(func(e strategy.Event) {
		if e.Type == strategy.EventLeaseAcquired {
			c.FailRequests("create", "configmaps", apierrors.NewInternalError(errors.New(msg)), 0)
		}
	}))
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	_, err := s.Apply(ctx, strategy.Release{App: smallApp, Revision: "v1", Objects: small(t)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "writing inventory default/small.inventory")
	assert.Contains(t, err.Error(), msg)
	assert.NoError(t, ctx.Err(), "given up long before any deadline")
	st := finished(t, c, smallApp, strategy.PhaseFailed)
	assert.Contains(t, st.Message, msg)
	assert.Equal(t, 0, c.Requests().Count("patch", "configmaps"), "nothing applied without an inventory")
}

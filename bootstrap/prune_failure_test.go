package bootstrap_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

var (
	operatorSA      = bootstrap.Ref{Kind: "ServiceAccount", Namespace: "platform", Name: "operator"}
	operatorRole    = bootstrap.Ref{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "widget-operator"}
	operatorBinding = bootstrap.Ref{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding", Name: "widget-operator"}
	cacheSvc        = bootstrap.Ref{Kind: "Service", Namespace: "apps", Name: "cache"}
	cacheSts        = bootstrap.Ref{Group: "apps", Kind: "StatefulSet", Namespace: "apps", Name: "cache"}
)

// withoutOperator is the platform without the operator's Deployment, its
// ServiceAccount, ClusterRole and ClusterRoleBinding: each of the last
// three must wait for another of them to be gone.
func withoutOperator(r bootstrap.Ref) bool {
	return r == operatorRef || r == operatorSA || r == operatorRole || r == operatorBinding
}

// installed applies objs (the platform when nil) with prune and returns
// a bootstrap with spec for the next runs.
func installed(t *testing.T, c *fake.Cluster, rec *recorder, spec bootstrap.Spec, app types.NamespacedName, objs []*unstructured.Unstructured, extra ...strategy.Option) *bootstrap.Strategy {
	t.Helper()
	if objs == nil {
		objs = platform(t)
	}
	var written sync.Map
	opts := []strategy.Option{strategy.WithClock(c.Clock()), strategy.WithObserver(statusWriter(t, c.Clients(), c.Clock(), time.Second, &written))}
	_, err := bootstrap.New(c.Clients(), bootstrap.Spec{Prune: true}, opts...).Apply(testCtx(t), strategy.Release{App: app, Revision: "v1", Objects: objs})
	require.NoError(t, err)
	return bootstrap.New(c.Clients(), spec, append(append(opts, strategy.WithObserver(rec.observe)), extra...)...)
}

func TestPruneWaitsForPrunedDependents(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	// The binding has a finalizer, which its controller removes 30s
	// after its deletion: the ServiceAccount and the ClusterRole, which
	// wait for it, are freed by a watch event and nothing else.
	objs := platform(t)
	for _, o := range objs {
		if bootstrap.RefOf(o) == operatorBinding {
			o.SetFinalizers([]string{"example.com/cleanup"})
		}
	}
	bindings := c.Clients().Kube.RbacV1().ClusterRoleBindings()
	var once sync.Once
	controller := func(e strategy.Event) {
		if e.Type != strategy.EventRunStarted {
			return
		}
		once.Do(func() {
			c.Clock().AfterFunc(30*time.Second, func() {
				crb, err := bindings.Get(context.Background(), operatorBinding.Name, metav1.GetOptions{})
				if err != nil {
					t.Errorf("binding controller: %v", err)
					return
				}
				crb.Finalizers = nil
				if _, err := bindings.Update(context.Background(), crb, metav1.UpdateOptions{}); err != nil {
					t.Errorf("binding controller: %v", err)
				}
			})
		})
	}
	var rec recorder
	// The record is in namespace default, whose ConfigMaps the run does
	// not watch: the renewals of its lease wake nothing either.
	app := types.NamespacedName{Namespace: "default", Name: "platform"}
	s := installed(t, c, &rec, bootstrap.Spec{Prune: true}, app, objs, strategy.WithObserver(controller))
	ctx, cancel := context.WithTimeout(testCtx(t), 45*time.Second)
	defer cancel()
	rep, err := s.Apply(ctx, strategy.Release{App: app, Revision: "v2", Objects: without(objs, withoutOperator)})
	require.NoError(t, err)
	pruned := rec.of(bootstrap.EventPruned)
	for _, o := range objs {
		ref := bootstrap.RefOf(o)
		if !withoutOperator(ref) {
			continue
		}
		r, ok := rep.Object(ref)
		require.True(t, ok, "%s", ref)
		assert.Equal(t, bootstrap.ActionPrune, r.Action, "%s", ref)
		assert.True(t, r.Ready, "%s is gone", ref)
		assert.Contains(t, pruned, ref.String())
		assert.False(t, exists(t, c, o), "%s", ref)
	}
	pos := func(ref bootstrap.Ref) int { return rec.position(bootstrap.EventPruned, ref.String()) }
	assert.Less(t, pos(operatorRef), pos(operatorBinding), "the Deployment goes before the binding that grants its permissions")
	assert.Less(t, pos(operatorBinding), pos(operatorRole))
	assert.Less(t, pos(operatorBinding), pos(operatorSA))
	at := func(ref bootstrap.Ref) time.Time { return rec.of(bootstrap.EventPruned)[ref.String()].Time }
	assert.Less(t, at(operatorSA).Sub(at(operatorBinding)), time.Second, "deleted as soon as the binding was gone")
	finished(t, c, app, strategy.PhaseSucceeded)
}

func TestPruneEndsWithTheRunsTimeout(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var rec recorder
	s := installed(t, c, &rec, bootstrap.Spec{Prune: true, Timeout: 10 * time.Minute}, platformApp, nil)
	c.FailRequests("delete", "serviceaccounts", apierrors.NewTooManyRequests("the server is throttling deletes", 1), 0)
	start := c.Clock().Now()
	rep, err := s.Apply(testCtx(t), strategy.Release{App: platformApp, Revision: "v2", Objects: without(platform(t), withoutOperator)})
	var fe *bootstrap.FailedError
	require.ErrorAs(t, err, &fe)
	require.NotNil(t, rep)
	assert.Equal(t, strategy.PhaseFailed, rep.Result.Phase)
	var te *bootstrap.TimeoutError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, operatorSA, te.Ref)
	assert.True(t, te.Overall)
	assert.Contains(t, err.Error(), "the server is throttling deletes")
	took := rep.Result.Finished.Sub(start)
	assert.GreaterOrEqual(t, took, 10*time.Minute)
	assert.Less(t, took, 12*time.Minute, "the run's timeout bounds prune")
	for _, ref := range []bootstrap.Ref{operatorRef, operatorBinding, operatorRole} {
		r, _ := rep.Object(ref)
		assert.True(t, r.Ready, "%s pruned", ref)
	}
	r, _ := rep.Object(operatorSA)
	assert.False(t, r.Ready)
	finished(t, c, platformApp, strategy.PhaseFailed)
}

func TestPruneRetriesTransientErrors(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var rec recorder
	s := installed(t, c, &rec, bootstrap.Spec{Prune: true}, platformApp, nil)
	c.FailRequests("delete", "statefulsets", apierrors.NewInternalError(errors.New("etcdserver: leader changed")), 1)
	c.FailRequests("delete", "services", apierrors.NewTooManyRequests("slow down", 1), 1)
	rep, err := s.Apply(testCtx(t), strategy.Release{App: platformApp, Revision: "v2",
		Objects: without(platform(t), func(r bootstrap.Ref) bool { return r == cacheSvc || r == cacheSts })})
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Count(bootstrap.ActionPrune))
	retried := rec.of(strategy.EventRetrying)
	for _, ref := range []bootstrap.Ref{cacheSts, cacheSvc} {
		r, _ := rep.Object(ref)
		assert.True(t, r.Ready, "%s pruned", ref)
		assert.Contains(t, retried, ref.String(), "the retry names the object")
	}
	finished(t, c, platformApp, strategy.PhaseSucceeded)
}

func TestPruneThatCannotLookFailsTheRun(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var rec recorder
	s := installed(t, c, &rec, bootstrap.Spec{Prune: true}, platformApp, nil)
	c.FailRequests("list", "statefulsets", apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "statefulsets"}, "",
		errors.New("RBAC: list not allowed")), 0)
	rep, err := s.Apply(testCtx(t), strategy.Release{App: platformApp, Revision: "v2",
		Objects: without(platform(t), func(r bootstrap.Ref) bool { return r == cacheSvc || r == cacheSts })})
	var fe *bootstrap.FailedError
	require.ErrorAs(t, err, &fe)
	require.NotNil(t, rep, "the apply went well: the report says so")
	var oe *bootstrap.ObjectError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, cacheSts, oe.Ref)
	assert.True(t, apierrors.IsForbidden(oe), "%v", oe)
	r, _ := rep.Object(cacheSts)
	assert.False(t, r.Ready)
	assert.Equal(t, oe, r.Err)
	_, err = c.Clients().Kube.AppsV1().StatefulSets("apps").Get(testCtx(t), "cache", metav1.GetOptions{})
	assert.NoError(t, err, "never deleted without a look")
	web, _ := rep.Object(bootstrap.Ref{Group: "apps", Kind: "Deployment", Namespace: "apps", Name: "web"})
	assert.True(t, web.Ready)
	finished(t, c, platformApp, strategy.PhaseFailed)
}

package bootstrap_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

var crds = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// orderChecker is an observer that fails the test when a custom resource
// is applied before its CRD is established, or a workload before its
// ServiceAccount exists: it asks the cluster at the moment of the apply.
func orderChecker(t *testing.T, clients strategy.Clients, objs []*unstructured.Unstructured) strategy.Observer {
	byName := map[string]*unstructured.Unstructured{}
	for _, o := range objs { // every namespaced object of the bundle names its namespace
		byName[bootstrap.RefOf(o).String()] = o
	}
	return func(e strategy.Event) {
		if e.Type != bootstrap.EventApplied {
			return
		}
		o := byName[e.Object]
		require.NotNil(t, o, "an event for an object not in the bundle: %s", e.Object)
		ctx := context.Background()
		switch o.GetKind() {
		case "Widget":
			crd, err := clients.Dynamic.Resource(crds).Get(ctx, "widgets.example.com", metav1.GetOptions{})
			require.NoError(t, err, "%s applied before its CRD exists", e.Object)
			assert.True(t, conditionTrue(crd, "Established") && conditionTrue(crd, "NamesAccepted"),
				"%s applied before its CRD was established", e.Object)
		case "Deployment", "StatefulSet", "Job":
			path := []string{"spec", "template", "spec", "serviceAccountName"}
			sa, _, _ := unstructured.NestedString(o.Object, path...)
			if sa == "" {
				return
			}
			_, err := clients.Kube.CoreV1().ServiceAccounts(o.GetNamespace()).Get(ctx, sa, metav1.GetOptions{})
			assert.NoError(t, err, "%s applied before its ServiceAccount %s", e.Object, sa)
		}
	}
}

func conditionTrue(u *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m["status"] == "True"
		}
	}
	return false
}

// liveStatus reads every object of the bundle and computes its status.
func liveStatus(t *testing.T, c *fake.Cluster, objs []*unstructured.Unstructured) map[string]bootstrap.ObjectStatus {
	t.Helper()
	out := map[string]bootstrap.ObjectStatus{}
	cl := c.Clients()
	cl.Mapper.Reset()
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := cl.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		require.NoError(t, err)
		ns := o.GetNamespace()
		if m.Scope.Name() == "namespace" && ns == "" {
			ns = "default"
		}
		live, err := cl.Dynamic.Resource(m.Resource).Namespace(ns).Get(context.Background(), o.GetName(), metav1.GetOptions{})
		require.NoError(t, err, "%s", bootstrap.RefOf(o))
		out[bootstrap.RefOf(live).String()] = bootstrap.Compute(live, c.Clock().Now())
	}
	return out
}

func TestPlatformOnFake(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	objs := platform(t)
	var rec recorder
	var written sync.Map
	s := bootstrap.New(c.Clients(), bootstrap.Spec{}, strategy.WithClock(c.Clock()),
		strategy.WithObserver(rec.observe),
		strategy.WithObserver(orderChecker(t, c.Clients(), objs)),
		strategy.WithObserver(statusWriter(t, c.Clients(), c.Clock(), 30*time.Second, &written)))
	start := c.Clock().Now()
	rep, err := s.Apply(testCtx(t), strategy.Release{App: platformApp, Revision: "v1", Objects: objs})
	require.NoError(t, err)
	require.Equal(t, strategy.PhaseSucceeded, rep.Result.Phase)
	assert.Len(t, rep.Objects, len(objs))
	for _, o := range rep.Objects {
		assert.True(t, o.Ready, "%s", o.Ref)
		assert.Equal(t, bootstrap.ActionCreate, o.Action, "%s", o.Ref)
		assert.Equal(t, bootstrap.StatusCurrent, o.Status.Status, "%s", o.Ref)
	}
	for ref, st := range liveStatus(t, c, objs) {
		assert.Equal(t, bootstrap.StatusCurrent, st.Status, "%s: %s", ref, st)
	}

	// The widget was ready only once its controller had written a status,
	// 30s after it was applied; a kstatus wait would have returned at once.
	at, ok := written.Load("platform/default-widget")
	require.True(t, ok, "the widget controller never ran")
	ready := rec.of(bootstrap.EventReady)
	widget := ready["Widget.example.com platform/default-widget"]
	assert.False(t, widget.Time.Before(at.(time.Time)), "widget ready at %s, status written at %s", widget.Time, at)
	assert.False(t, at.(time.Time).Before(start.Add(30*time.Second)))
	assert.False(t, rep.Result.Finished.Before(at.(time.Time)))

	// Edges of every kind: custom resource after its CRD, workloads after
	// their service account, config and RBAC, the webhook after the
	// workload behind its Service, web after the Job it depends on.
	before := func(first, then string) {
		t.Helper()
		f, th := rec.position(bootstrap.EventReady, first), rec.position(bootstrap.EventApplied, then)
		require.GreaterOrEqual(t, f, 0, "%s never ready", first)
		require.GreaterOrEqual(t, th, 0, "%s never applied", then)
		assert.Less(t, f, th, "%s must be ready before %s is applied", first, then)
	}
	before("CustomResourceDefinition.apiextensions.k8s.io widgets.example.com", "Widget.example.com platform/default-widget")
	before("Namespace platform", "Widget.example.com platform/default-widget")
	before("ServiceAccount platform/operator", "Deployment.apps platform/operator")
	before("ConfigMap platform/operator-config", "Deployment.apps platform/operator")
	before("Secret platform/operator-token", "Deployment.apps platform/operator")
	before("ClusterRoleBinding.rbac.authorization.k8s.io widget-operator", "Deployment.apps platform/operator")
	before("ClusterRole.rbac.authorization.k8s.io widget-operator", "ClusterRoleBinding.rbac.authorization.k8s.io widget-operator")
	before("Deployment.apps platform/operator", "ValidatingWebhookConfiguration.admissionregistration.k8s.io widget-validator")
	before("Service platform/operator-webhook", "ValidatingWebhookConfiguration.admissionregistration.k8s.io widget-validator")
	before("Job.batch apps/migrate", "Deployment.apps apps/web")
	before("RoleBinding.rbac.authorization.k8s.io apps/web-config-reader", "Deployment.apps apps/web")
	before("Service apps/cache", "StatefulSet.apps apps/cache")
	// Not phases: the StatefulSet, which waits for nothing slow, was ready
	// long before the web Deployment (behind a 5s Job) was applied.
	assert.Less(t, rec.position(bootstrap.EventReady, "StatefulSet.apps apps/cache"), rec.position(bootstrap.EventApplied, "Deployment.apps apps/web"))

	inv, err := s.Inventory(testCtx(t), platformApp)
	require.NoError(t, err)
	assert.Len(t, inv, len(objs))

	// The same bundle again: nothing is written, not even the record.
	writesBefore := writes(c)
	var rec2 recorder
	s2 := bootstrap.New(c.Clients(), bootstrap.Spec{}, strategy.WithClock(c.Clock()), strategy.WithObserver(rec2.observe))
	rep2, err := s2.Apply(testCtx(t), strategy.Release{App: platformApp, Revision: "v1", Objects: platform(t)})
	require.NoError(t, err)
	assert.Equal(t, 0, writes(c)-writesBefore, "a second run writes nothing")
	assert.Equal(t, len(objs), rep2.Count(bootstrap.ActionUnchanged))
	assert.Len(t, rec2.of(bootstrap.EventReady), len(objs))
	assert.Empty(t, rec2.of(bootstrap.EventApplied))
	st, err := strategy.NewControl(c.Clients().Kube).Status(testCtx(t), platformApp)
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, st.Phase)
	assert.Equal(t, "v1", st.Revision)
}

func TestRunMatchesStrategyInterface(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var written sync.Map
	var s strategy.Strategy = bootstrap.New(c.Clients(), bootstrap.Spec{}, strategy.WithClock(c.Clock()),
		strategy.WithObserver(statusWriter(t, c.Clients(), c.Clock(), time.Second, &written)))
	res, err := s.Run(testCtx(t), strategy.Release{App: platformApp, Objects: platform(t)})
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	assert.True(t, strings.HasPrefix(res.Revision, "b-"), "an empty revision becomes the bundle's digest: %q", res.Revision)
	assert.Equal(t, "bootstrap", s.Name())

	plan, err := s.Plan(testCtx(t), strategy.Release{App: platformApp, Objects: platform(t)})
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, plan.Current)
	assert.Len(t, plan.Steps, 23)
	for _, step := range plan.Steps {
		assert.Equal(t, "unchanged", step.Description, step.Name)
	}
}

func TestDriftIsRepaired(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var written sync.Map
	opts := []strategy.Option{strategy.WithClock(c.Clock()),
		strategy.WithObserver(statusWriter(t, c.Clients(), c.Clock(), time.Second, &written))}
	rel := strategy.Release{App: platformApp, Revision: "v1", Objects: platform(t)}
	_, err := bootstrap.New(c.Clients(), bootstrap.Spec{}, opts...).Apply(testCtx(t), rel)
	require.NoError(t, err)

	// Someone edits two objects by hand.
	ctx := testCtx(t)
	cm, err := c.Clients().Kube.CoreV1().ConfigMaps("apps").Get(ctx, "web-config", metav1.GetOptions{})
	require.NoError(t, err)
	cm.Data["greeting"] = "hi"
	_, err = c.Clients().Kube.CoreV1().ConfigMaps("apps").Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
	require.NoError(t, err)

	// Without ForceConflicts the run stops at the conflict and names the
	// manager that took the field.
	_, err = bootstrap.New(c.Clients(), bootstrap.Spec{}, opts...).Apply(ctx, rel)
	var fe *bootstrap.FailedError
	require.ErrorAs(t, err, &fe)
	require.Len(t, fe.Failed, 1)
	assert.Contains(t, fe.Failed[0].Error(), "ConfigMap apps/web-config")
	assert.Contains(t, fe.Failed[0].Error(), "kubectl-edit")

	// With it, the one drifted object is applied again, and only it.
	c.ResetRequests()
	rep, err := bootstrap.New(c.Clients(), bootstrap.Spec{ForceConflicts: true}, opts...).Apply(ctx, rel)
	require.NoError(t, err)
	assert.Equal(t, 1, c.Requests().Count("patch", "configmaps"), "one apply, of the drifted ConfigMap")
	assert.Equal(t, 1, rep.Count(bootstrap.ActionConfigure))
	o, _ := rep.Object(bootstrap.Ref{Kind: "ConfigMap", Namespace: "apps", Name: "web-config"})
	assert.Equal(t, bootstrap.ActionConfigure, o.Action)
	cm, err = c.Clients().Kube.CoreV1().ConfigMaps("apps").Get(ctx, "web-config", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "hello", cm.Data["greeting"])
}

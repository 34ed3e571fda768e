package bootstrap_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
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
	operatorRef = bootstrap.Ref{Group: "apps", Kind: "Deployment", Namespace: "platform", Name: "operator"}
	webhookRef  = bootstrap.Ref{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration", Name: "widget-validator"}
)

// brokenOperator returns the platform bundle whose operator pods never
// turn Ready, with a progress deadline of deadline seconds (none when 0).
func brokenOperator(t *testing.T, c *fake.Cluster, deadline int64) []*unstructured.Unstructured {
	t.Helper()
	c.SetBehavior("broken", fake.Behavior{NeverReady: true})
	objs := platform(t)
	for _, o := range objs {
		if bootstrap.RefOf(o) != operatorRef {
			continue
		}
		require.NoError(t, unstructured.SetNestedField(o.Object, "broken", "spec", "template", "metadata", "labels", fake.DefaultVersionLabel))
		if deadline > 0 {
			require.NoError(t, unstructured.SetNestedField(o.Object, deadline, "spec", "progressDeadlineSeconds"))
		}
	}
	return objs
}

func TestFailedDeploymentSkipsDependents(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var rec recorder
	var written sync.Map
	s := bootstrap.New(c.Clients(), bootstrap.Spec{}, strategy.WithClock(c.Clock()), strategy.WithObserver(rec.observe),
		strategy.WithObserver(statusWriter(t, c.Clients(), c.Clock(), time.Second, &written)))
	start := c.Clock().Now()
	rep, err := s.Apply(testCtx(t), strategy.Release{App: platformApp, Revision: "v1", Objects: brokenOperator(t, c, 60)})
	var fe *bootstrap.FailedError
	require.ErrorAs(t, err, &fe)
	require.NotNil(t, rep)
	assert.Equal(t, strategy.PhaseFailed, rep.Result.Phase)

	// The Deployment failed by its own progress deadline, with its reason.
	require.Len(t, fe.Failed, 1)
	var oe *bootstrap.ObjectError
	require.ErrorAs(t, fe.Failed[0], &oe)
	assert.Equal(t, operatorRef, oe.Ref)
	assert.Equal(t, bootstrap.StatusFailed, oe.Status.Status)
	assert.Equal(t, "ProgressDeadlineExceeded", oe.Status.Reason)
	// It failed once its deadline had passed, long before the object
	// timeout of 5m. (Under load the fake clock may run a little ahead of
	// the run, so not to the nanosecond.)
	failedAt := rec.of(bootstrap.EventFailed)[operatorRef.String()].Time.Sub(start)
	assert.GreaterOrEqual(t, failedAt, 60*time.Second)
	assert.Less(t, failedAt, bootstrap.DefaultObjectTimeout)

	// The webhook, which calls the operator's Service, was never applied,
	// and says so, naming the operator.
	require.Len(t, fe.Skipped, 1)
	assert.Equal(t, webhookRef, fe.Skipped[0].Ref)
	assert.Equal(t, operatorRef, fe.Skipped[0].Dependency)
	assert.Contains(t, fe.Skipped[0].Reason, "Deployment.apps platform/operator")
	assert.Contains(t, err.Error(), webhookRef.String())
	o, _ := rep.Object(webhookRef)
	assert.Equal(t, bootstrap.ActionSkip, o.Action)
	_, err = c.Clients().Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(testCtx(t), "widget-validator", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the skipped webhook does not exist: %v", err)
	assert.Contains(t, rec.of(bootstrap.EventSkipped), webhookRef.String())

	st, err := strategy.NewControl(c.Clients().Kube).Status(testCtx(t), platformApp)
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseFailed, st.Phase)
	assert.Contains(t, st.Message, "ProgressDeadlineExceeded")
}

func TestTimeoutNamesObjectStatusAndWaiters(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var written sync.Map
	s := bootstrap.New(c.Clients(), bootstrap.Spec{ObjectTimeout: 2 * time.Minute}, strategy.WithClock(c.Clock()),
		strategy.WithObserver(statusWriter(t, c.Clients(), c.Clock(), time.Second, &written)))
	_, err := s.Apply(testCtx(t), strategy.Release{App: platformApp, Objects: brokenOperator(t, c, 0)})
	require.Error(t, err)
	assert.True(t, errors.Is(err, strategy.ErrProgressDeadline), "a timeout matches ErrProgressDeadline: %v", err)
	var te *bootstrap.TimeoutError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, operatorRef, te.Ref)
	assert.Equal(t, 2*time.Minute, te.After)
	assert.Equal(t, bootstrap.StatusInProgress, te.Status.Status)
	assert.Contains(t, te.Status.Message, "available 0/2")
	assert.Equal(t, []bootstrap.Ref{webhookRef}, te.Blocking)
	assert.Contains(t, te.Error(), "available 0/2")
	assert.Contains(t, te.Error(), "waiting for it: "+webhookRef.String())
}

func TestOverallTimeout(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var written sync.Map
	s := bootstrap.New(c.Clients(), bootstrap.Spec{Timeout: 90 * time.Second}, strategy.WithClock(c.Clock()),
		strategy.WithObserver(statusWriter(t, c.Clients(), c.Clock(), time.Second, &written)))
	start := c.Clock().Now()
	rep, err := s.Apply(testCtx(t), strategy.Release{App: platformApp, Objects: brokenOperator(t, c, 0)})
	var te *bootstrap.TimeoutError
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Overall)
	assert.Equal(t, operatorRef, te.Ref)
	assert.Contains(t, te.Error(), "the run's timeout")
	took := rep.Result.Finished.Sub(start)
	assert.GreaterOrEqual(t, took, 90*time.Second)
	assert.Less(t, took, 2*time.Minute, "stopped by the run's timeout, not the object's")
}

func TestKeepGoingAppliesUnrelatedObjects(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var written sync.Map
	// The operator fails at once (its deadline is 1s) while the web app is
	// still behind its 5s migration Job: without KeepGoing web would be
	// skipped; with it, only the webhook is.
	s := bootstrap.New(c.Clients(), bootstrap.Spec{KeepGoing: true}, strategy.WithClock(c.Clock()),
		strategy.WithObserver(statusWriter(t, c.Clients(), c.Clock(), time.Second, &written)))
	rep, err := s.Apply(testCtx(t), strategy.Release{App: platformApp, Objects: brokenOperator(t, c, 1)})
	var fe *bootstrap.FailedError
	require.ErrorAs(t, err, &fe)
	require.Len(t, fe.Skipped, 1)
	assert.Equal(t, webhookRef, fe.Skipped[0].Ref)
	web, _ := rep.Object(bootstrap.Ref{Group: "apps", Kind: "Deployment", Namespace: "apps", Name: "web"})
	assert.True(t, web.Ready)

	c2 := newCluster(t)
	s2 := bootstrap.New(c2.Clients(), bootstrap.Spec{}, strategy.WithClock(c2.Clock()),
		strategy.WithObserver(statusWriter(t, c2.Clients(), c2.Clock(), time.Second, &written)))
	rep2, err := s2.Apply(testCtx(t), strategy.Release{App: platformApp, Objects: brokenOperator(t, c2, 1)})
	require.ErrorAs(t, err, &fe)
	web, _ = rep2.Object(bootstrap.Ref{Group: "apps", Kind: "Deployment", Namespace: "apps", Name: "web"})
	assert.Equal(t, bootstrap.ActionSkip, web.Action, "fail fast: web was not started")
	var se *bootstrap.SkippedError
	require.ErrorAs(t, web.Err, &se)
	assert.Contains(t, se.Reason, "stopped when Deployment.apps platform/operator failed")
}

func TestRollbackDeletesWhatTheRunCreated(t *testing.T) {
	t.Parallel()
	c := newCluster(t, fake.WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}))
	var rec recorder
	var written sync.Map
	s := bootstrap.New(c.Clients(), bootstrap.Spec{Rollback: true}, strategy.WithClock(c.Clock()), strategy.WithObserver(rec.observe),
		strategy.WithObserver(statusWriter(t, c.Clients(), c.Clock(), time.Second, &written)))
	objs := brokenOperator(t, c, 60)
	rep, err := s.Apply(testCtx(t), strategy.Release{App: platformApp, Objects: objs})
	var fe *bootstrap.FailedError
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, err.Error(), "rolled back")

	deleted := rec.of(bootstrap.EventDeleted)
	ctx := testCtx(t)
	for _, o := range objs {
		ref := bootstrap.RefOf(o)
		switch ref {
		case webhookRef: // never applied
			assert.NotContains(t, deleted, ref.String())
		case bootstrap.Ref{Kind: "Namespace", Name: "apps"}: // there before the run
			assert.NotContains(t, deleted, ref.String())
			_, err := c.Clients().Kube.CoreV1().Namespaces().Get(ctx, "apps", metav1.GetOptions{})
			assert.NoError(t, err)
		case bootstrap.Ref{Kind: "Namespace", Name: "platform"}: // holds the record
			assert.NotContains(t, deleted, ref.String())
			r, _ := rep.Object(ref)
			assert.Equal(t, bootstrap.ActionCreate, r.Action)
		default:
			assert.Contains(t, deleted, ref.String())
		}
	}
	// Dependents went first.
	pos := func(ref string) int { return rec.position(bootstrap.EventDeleted, ref) }
	assert.Less(t, pos("Widget.example.com platform/default-widget"), pos("CustomResourceDefinition.apiextensions.k8s.io widgets.example.com"))
	assert.Less(t, pos("Deployment.apps apps/web"), pos("ServiceAccount apps/web"))
	assert.Less(t, pos("Deployment.apps apps/web"), pos("Job.batch apps/migrate"))
	_, err = c.Clients().Kube.AppsV1().Deployments("apps").Get(ctx, "web", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))
	inv, err := s.Inventory(ctx, platformApp)
	require.NoError(t, err)
	for _, r := range inv {
		assert.True(t, r.Kind == "Namespace" || r == webhookRef, "left in the inventory after the rollback: %s", r)
	}
}

func TestRejectedBeforeAnyWrite(t *testing.T) {
	t.Parallel()
	cm := func(name, dependsOn string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": name, "namespace": "default"}}}
		if dependsOn != "" {
			u.SetAnnotations(map[string]string{bootstrap.AnnotationDependsOn: dependsOn})
		}
		return u
	}
	widget := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": "default"}}}
	tests := map[string]struct {
		objs  []*unstructured.Unstructured
		spec  bootstrap.Spec
		paths []string
		text  string
	}{
		"cycle": {
			objs:  []*unstructured.Unstructured{cm("a", "/namespaces/default/ConfigMap/b"), cm("b", "/namespaces/default/ConfigMap/c"), cm("c", "/namespaces/default/ConfigMap/a")},
			paths: []string{"release.objects[0]"},
			text:  "dependency cycle: ConfigMap default/a waits for ConfigMap default/b (its config.kubernetes.io/depends-on annotation); ConfigMap default/b waits for ConfigMap default/c",
		},
		"no kind": {
			objs:  []*unstructured.Unstructured{{Object: map[string]any{"metadata": map[string]any{"name": "x"}}}},
			paths: []string{"release.objects[0]"},
		},
		"generateName only": {
			objs:  []*unstructured.Unstructured{{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"generateName": "x-"}}}},
			paths: []string{"release.objects[0].metadata.name"},
		},
		"duplicate": {
			objs:  []*unstructured.Unstructured{cm("a", ""), cm("a", "")},
			paths: []string{"release.objects[1]"},
		},
		"bad depends-on": {
			objs:  []*unstructured.Unstructured{cm("a", "ConfigMap/b"), cm("b", "/namespaces/default/ConfigMap/missing")},
			paths: []string{"release.objects[0].metadata.annotations[config.kubernetes.io/depends-on]", "release.objects[1].metadata.annotations[config.kubernetes.io/depends-on]"},
		},
		"unknown kind": {
			objs:  []*unstructured.Unstructured{widget},
			paths: []string{"release.objects[0].kind"},
			text:  "install its CustomResourceDefinition",
		},
		"missing namespace": {
			objs:  []*unstructured.Unstructured{{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x", "namespace": "nowhere"}}}},
			paths: []string{"release.objects[0].metadata.namespace"},
		},
		"depends on itself": {
			objs:  []*unstructured.Unstructured{cm("a", "/namespaces/default/ConfigMap/a")},
			paths: []string{"release.objects[0].metadata.annotations[config.kubernetes.io/depends-on]"},
			text:  "names the object itself",
		},
		"spec dependency on itself": {
			objs: []*unstructured.Unstructured{cm("a", "")},
			spec: bootstrap.Spec{Dependencies: []bootstrap.Dependency{{Object: bootstrap.Ref{Kind: "ConfigMap", Namespace: "default", Name: "a"},
				DependsOn: bootstrap.Ref{Kind: "ConfigMap", Namespace: "default", Name: "a"}}}},
			paths: []string{"spec.dependencies[0].dependsOn"},
			text:  "names the object itself",
		},
		"secret data not base64": {
			objs: []*unstructured.Unstructured{{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
				"metadata": map[string]any{"name": "s", "namespace": "default"}, "data": map[string]any{"ok": "c2VjcmV0", "token": "not base64!"}}}},
			paths: []string{"release.objects[0].data[token]"},
			text:  "base64",
		},
		"no namespace": {
			objs:  []*unstructured.Unstructured{{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "x"}}}},
			paths: []string{"release.objects[0].metadata.namespace"},
			text:  "Spec.Namespace",
		},
		"bad spec": {
			objs: []*unstructured.Unstructured{cm("a", "")},
			spec: bootstrap.Spec{Concurrency: -1, Checks: []bootstrap.Check{{}, {Kind: schema.GroupKind{Kind: "ConfigMap"}, ReadyCEL: "object.data.size()"}},
				Dependencies: []bootstrap.Dependency{{Object: bootstrap.Ref{Kind: "ConfigMap", Namespace: "default", Name: "a"}}}},
			paths: []string{"spec.concurrency", "spec.checks[0].kind", "spec.checks[1]", "spec.dependencies[0].dependsOn"},
			text:  "readyCEL must be a boolean expression",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t)
			s := bootstrap.New(c.Clients(), tc.spec, strategy.WithClock(c.Clock()))
			app := types.NamespacedName{Namespace: "default", Name: "bundle"}
			rep, err := s.Apply(testCtx(t), strategy.Release{App: app, Objects: tc.objs})
			assert.Nil(t, rep)
			var ve *strategy.ValidationError
			require.ErrorAs(t, err, &ve)
			for _, p := range tc.paths {
				assert.True(t, ve.Has(p), "no error at %s in %v", p, err)
			}
			if tc.text != "" {
				assert.Contains(t, err.Error(), tc.text)
			}
			assert.Equal(t, 0, writes(c), "nothing written")
			_, err = s.DryRun(testCtx(t), strategy.Release{App: app, Objects: tc.objs})
			assert.ErrorAs(t, err, &ve, "the dry run rejects it too")
		})
	}

	// A malformed document never becomes a bundle: decoding names where
	// it is.
	_, err := bootstrap.Decode("bundle.yaml", strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n   bad: indent\n"))
	var de *bootstrap.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "bundle.yaml", de.Source)
	assert.Equal(t, 2, de.Document)
	assert.Equal(t, 9, de.Line)
}

func TestSpecNamespaceIsForNamespacedKindsOnly(t *testing.T) {
	t.Parallel()
	c := newCluster(t, fake.WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}}))
	objs, err := bootstrap.Decode("bundle.yaml", strings.NewReader(`
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
`))
	require.NoError(t, err)
	app := types.NamespacedName{Namespace: "apps", Name: "bundle"}
	s := bootstrap.New(c.Clients(), bootstrap.Spec{Namespace: "apps"}, strategy.WithClock(c.Clock()))
	ctx := testCtx(t)
	_, err = s.Apply(ctx, strategy.Release{App: app, Objects: objs})
	require.NoError(t, err)
	_, err = c.Clients().Kube.CoreV1().ConfigMaps("apps").Get(ctx, "settings", metav1.GetOptions{})
	assert.NoError(t, err, "the ConfigMap went to Spec.Namespace")
	_, err = c.Clients().Kube.CoreV1().ConfigMaps("default").Get(ctx, "settings", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "never to default: %v", err)
	inv, err := s.Inventory(ctx, app)
	require.NoError(t, err)
	assert.ElementsMatch(t, []bootstrap.Ref{{Kind: "ConfigMap", Namespace: "apps", Name: "settings"},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "reader"}}, inv, "the ClusterRole got no namespace")
}

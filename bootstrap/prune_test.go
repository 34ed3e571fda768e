package bootstrap_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// exists reports whether the object ref names is in the cluster.
func exists(t *testing.T, c *fake.Cluster, o *unstructured.Unstructured) bool {
	t.Helper()
	cl := c.Clients()
	cl.Mapper.Reset()
	gvk := o.GroupVersionKind()
	m, err := cl.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return false // the kind itself is gone
	}
	_, err = cl.Dynamic.Resource(m.Resource).Namespace(o.GetNamespace()).Get(context.Background(), o.GetName(), metav1.GetOptions{})
	return err == nil
}

func without(objs []*unstructured.Unstructured, drop func(bootstrap.Ref) bool) []*unstructured.Unstructured {
	return slices.DeleteFunc(slices.Clone(objs), func(o *unstructured.Unstructured) bool { return drop(bootstrap.RefOf(o)) })
}

func TestPruneRemovesExactlyWhatLeft(t *testing.T) {
	t.Parallel()
	// A ConfigMap that exists before the first run, which the bundle then
	// takes over: it did not create it, so it never deletes it.
	legacy := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: "platform"}, Data: map[string]string{"k": "v"}}
	c := newCluster(t, fake.WithObjects(legacy))
	var rec recorder
	var written sync.Map
	opts := []strategy.Option{strategy.WithClock(c.Clock()), strategy.WithObserver(rec.observe),
		strategy.WithObserver(statusWriter(t, c.Clients(), c.Clock(), time.Second, &written))}
	s := bootstrap.New(c.Clients(), bootstrap.Spec{Prune: true}, opts...)
	ctx := testCtx(t)

	legacyObj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "legacy", "namespace": "platform"}, "data": map[string]any{"k": "v"}}}
	first := append(platform(t), legacyObj)
	_, err := s.Apply(ctx, strategy.Release{App: platformApp, Revision: "v1", Objects: first})
	require.NoError(t, err)

	// Something the bundle does not know about lands in namespace apps.
	_, err = c.Clients().Kube.CoreV1().ConfigMaps("apps").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "foreign", Namespace: "apps"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	// v2 drops namespace apps and all it holds, the widget, the webhook
	// and the ConfigMap it took over.
	leaves := func(r bootstrap.Ref) bool {
		return r.Namespace == "apps" || r == bootstrap.Ref{Kind: "Namespace", Name: "apps"} ||
			r.Kind == "Widget" || r == webhookRef || r.Name == "legacy"
	}
	second := without(first, leaves)
	rep, err := s.Apply(ctx, strategy.Release{App: platformApp, Revision: "v2", Objects: second})
	require.NoError(t, err)

	pruned := rec.of(bootstrap.EventPruned)
	for _, o := range first {
		ref := bootstrap.RefOf(o)
		switch {
		case !leaves(ref):
			assert.True(t, exists(t, c, o), "%s is still in the bundle", ref)
			assert.NotContains(t, pruned, ref.String())
		case ref.Name == "legacy":
			assert.True(t, exists(t, c, o), "the bundle did not create %s", ref)
			r, _ := rep.Object(ref)
			assert.Equal(t, bootstrap.ActionKeep, r.Action)
			assert.Contains(t, r.Message, "did not create")
		case ref == bootstrap.Ref{Kind: "Namespace", Name: "apps"}:
			assert.True(t, exists(t, c, o), "namespace apps holds a foreign object")
			r, _ := rep.Object(ref)
			assert.Equal(t, bootstrap.ActionKeep, r.Action)
			assert.Contains(t, r.Message, "ConfigMap apps/foreign")
		default:
			assert.False(t, exists(t, c, o), "%s left the bundle", ref)
			assert.Contains(t, pruned, ref.String())
		}
	}
	_, err = c.Clients().Kube.CoreV1().ConfigMaps("apps").Get(ctx, "foreign", metav1.GetOptions{})
	assert.NoError(t, err, "never pruned: not the bundle's")
	assert.Len(t, pruned, 13, "the 11 objects in namespace apps, the other widget and the webhook")
	// Dependents went first.
	pos := func(ref string) int { return rec.position(bootstrap.EventPruned, ref) }
	assert.Less(t, pos("Deployment.apps apps/web"), pos("ConfigMap apps/web-config"))
	assert.Less(t, pos("Deployment.apps apps/web"), pos("Job.batch apps/migrate"))
	assert.Less(t, pos("RoleBinding.rbac.authorization.k8s.io apps/web-config-reader"), pos("Role.rbac.authorization.k8s.io apps/config-reader"))

	// Running v2 again writes nothing: the namespace stays in the
	// inventory, kept while it holds the foreign object.
	before := writes(c)
	rep, err = s.Apply(ctx, strategy.Release{App: platformApp, Revision: "v2", Objects: second})
	require.NoError(t, err)
	assert.Equal(t, 0, writes(c)-before)
	r, _ := rep.Object(bootstrap.Ref{Kind: "Namespace", Name: "apps"})
	assert.Equal(t, bootstrap.ActionKeep, r.Action)

	// Once the foreign object is gone, the next run prunes the namespace.
	require.NoError(t, c.Clients().Kube.CoreV1().ConfigMaps("apps").Delete(ctx, "foreign", metav1.DeleteOptions{}))
	rep, err = s.Apply(ctx, strategy.Release{App: platformApp, Revision: "v2", Objects: second})
	require.NoError(t, err)
	r, _ = rep.Object(bootstrap.Ref{Kind: "Namespace", Name: "apps"})
	assert.Equal(t, bootstrap.ActionPrune, r.Action)
	assert.True(t, r.Ready)
	_, err = c.Clients().Kube.CoreV1().Namespaces().Get(ctx, "apps", metav1.GetOptions{})
	assert.Error(t, err, "namespace apps is gone")
	inv, err := s.Inventory(ctx, platformApp)
	require.NoError(t, err)
	assert.Len(t, inv, len(second), "the bundle's objects; legacy, which it took over, is forgotten")
}

func TestPruneOffKeepsAndRemembers(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var written sync.Map
	opts := []strategy.Option{strategy.WithClock(c.Clock()), strategy.WithObserver(statusWriter(t, c.Clients(), c.Clock(), time.Second, &written))}
	ctx := testCtx(t)
	objs := platform(t)
	_, err := bootstrap.New(c.Clients(), bootstrap.Spec{}, opts...).Apply(ctx, strategy.Release{App: platformApp, Revision: "v1", Objects: objs})
	require.NoError(t, err)
	cacheSvc := bootstrap.Ref{Kind: "Service", Namespace: "apps", Name: "cache"}
	cacheSts := bootstrap.Ref{Group: "apps", Kind: "StatefulSet", Namespace: "apps", Name: "cache"}
	smaller := without(objs, func(r bootstrap.Ref) bool { return r == cacheSvc || r == cacheSts })

	rep, err := bootstrap.New(c.Clients(), bootstrap.Spec{}, opts...).Apply(ctx, strategy.Release{App: platformApp, Revision: "v2", Objects: smaller})
	require.NoError(t, err)
	r, _ := rep.Object(cacheSts)
	assert.Equal(t, bootstrap.ActionKeep, r.Action)
	assert.Equal(t, "prune is off", r.Message)
	_, err = c.Clients().Kube.AppsV1().StatefulSets("apps").Get(ctx, "cache", metav1.GetOptions{})
	require.NoError(t, err)

	// The inventory still holds them, so a later run with prune removes
	// them.
	rep, err = bootstrap.New(c.Clients(), bootstrap.Spec{Prune: true}, opts...).Apply(ctx, strategy.Release{App: platformApp, Revision: "v2", Objects: smaller})
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Count(bootstrap.ActionPrune))
	_, err = c.Clients().Kube.AppsV1().StatefulSets("apps").Get(ctx, "cache", metav1.GetOptions{})
	assert.Error(t, err)
}

func TestPruneKeepsACRDWithOtherCustomResources(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var written sync.Map
	s := bootstrap.New(c.Clients(), bootstrap.Spec{Prune: true}, strategy.WithClock(c.Clock()),
		strategy.WithObserver(statusWriter(t, c.Clients(), c.Clock(), time.Second, &written)))
	ctx := testCtx(t)
	objs := platform(t)
	_, err := s.Apply(ctx, strategy.Release{App: platformApp, Revision: "v1", Objects: objs})
	require.NoError(t, err)
	foreign := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "someone-elses", "namespace": "apps"}}}
	_, err = c.Clients().Dynamic.Resource(widgets).Namespace("apps").Create(ctx, foreign, metav1.CreateOptions{})
	require.NoError(t, err)

	crd := bootstrap.Ref{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: "widgets.example.com"}
	smaller := without(objs, func(r bootstrap.Ref) bool { return r == crd || r.Kind == "Widget" || r == webhookRef })
	rep, err := s.Apply(ctx, strategy.Release{App: platformApp, Revision: "v2", Objects: smaller})
	require.NoError(t, err)
	r, _ := rep.Object(crd)
	assert.Equal(t, bootstrap.ActionKeep, r.Action)
	assert.Contains(t, r.Message, "Widget.example.com apps/someone-elses")
	assert.Equal(t, 3, rep.Count(bootstrap.ActionPrune), "the bundle's two widgets and the webhook")
	_, err = c.Clients().Dynamic.Resource(widgets).Namespace("apps").Get(ctx, "someone-elses", metav1.GetOptions{})
	assert.NoError(t, err, "the CRD, and so the foreign widget, stays")

	require.NoError(t, c.Clients().Dynamic.Resource(widgets).Namespace("apps").Delete(ctx, "someone-elses", metav1.DeleteOptions{}))
	rep, err = s.Apply(ctx, strategy.Release{App: platformApp, Revision: "v2", Objects: smaller})
	require.NoError(t, err)
	r, _ = rep.Object(crd)
	assert.Equal(t, bootstrap.ActionPrune, r.Action)
	assert.True(t, r.Ready)
}

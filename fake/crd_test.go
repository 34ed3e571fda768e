package fake

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func crd(group, kind, plural, scope string, versions ...string) *unstructured.Unstructured {
	var vs []any
	for i, v := range versions {
		vs = append(vs, map[string]any{"name": v, "served": true, "storage": i == 0,
			"schema":       map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
			"subresources": map[string]any{"status": map[string]any{}}})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": plural + "." + group},
		"spec": map[string]any{
			"group": group, "scope": scope, "versions": vs,
			"names": map[string]any{"kind": kind, "plural": plural, "listKind": kind + "List"},
		},
	}}
}

func httpRoute(name string, weight int64) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": name, "namespace": "default"},
		"spec": map[string]any{"rules": []any{map[string]any{"backendRefs": []any{
			map[string]any{"name": "web-blue", "port": int64(80), "weight": weight},
		}}}},
	}}
}

func TestCRDLearning(t *testing.T) {
	c := newTestCluster(t)
	ctx := context.Background()
	cl := c.Clients()
	routes := schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	gk := schema.GroupKind{Group: "gateway.networking.k8s.io", Kind: "HTTPRoute"}

	_, err := cl.Mapper.RESTMapping(gk, "v1")
	require.Error(t, err, "unknown before the CRD")
	_, err = cl.Dynamic.Resource(routes).Namespace("default").Create(ctx, httpRoute("r", 100), metav1.CreateOptions{})
	require.True(t, apierrors.IsNotFound(err), "no resource yet: %v", err)

	_, err = cl.Dynamic.Resource(crdGVR).Create(ctx, crd("gateway.networking.k8s.io", "HTTPRoute", "httproutes", "Namespaced", "v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	idle(t, c)
	got, err := cl.Dynamic.Resource(crdGVR).Get(ctx, "httproutes.gateway.networking.k8s.io", metav1.GetOptions{})
	require.NoError(t, err)
	for _, cond := range []string{"Established", "NamesAccepted"} {
		m := findCondition(got, cond)
		require.NotNil(t, m, cond)
		assert.Equal(t, "True", m["status"], cond)
	}

	cl.Mapper.Reset()
	mapping, err := cl.Mapper.RESTMapping(gk, "v1")
	require.NoError(t, err)
	assert.Equal(t, routes, mapping.Resource)
	assert.Equal(t, "namespace", string(mapping.Scope.Name()))
	res, err := cl.Discovery.ServerResourcesForGroupVersion("gateway.networking.k8s.io/v1")
	require.NoError(t, err)
	assert.Equal(t, "httproutes", res.APIResources[0].Name)

	r, err := cl.Dynamic.Resource(mapping.Resource).Namespace("default").Create(ctx, httpRoute("r", 100), metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), r.GetGeneration())
	_ = unstructured.SetNestedSlice(r.Object, []any{map[string]any{"backendRefs": []any{
		map[string]any{"name": "web-green", "port": int64(80), "weight": int64(100)}}}}, "spec", "rules")
	r, err = cl.Dynamic.Resource(routes).Namespace("default").Update(ctx, r, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), r.GetGeneration())

	// Server-side apply of a custom resource: create, then a merge of
	// another field by the same manager.
	applied, err := cl.Dynamic.Resource(routes).Namespace("default").Apply(ctx, "applied", httpRoute("applied", 10),
		metav1.ApplyOptions{FieldManager: "switchyard"})
	require.NoError(t, err)
	assert.Equal(t, "applied", applied.GetName())
	upd := httpRoute("applied", 90)
	upd.SetLabels(map[string]string{"x": "y"})
	applied, err = cl.Dynamic.Resource(routes).Namespace("default").Apply(ctx, "applied", upd, metav1.ApplyOptions{FieldManager: "switchyard"})
	require.NoError(t, err)
	assert.Equal(t, "y", applied.GetLabels()["x"])

	list, err := cl.Dynamic.Resource(routes).Namespace("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, list.Items, 2)
}

func TestCRDScopesAndSeeding(t *testing.T) {
	vs := crd("networking.istio.io", "VirtualService", "virtualservices", "Namespaced", "v1", "v1beta1")
	ts := crd("split.smi-spec.io", "TrafficSplit", "trafficsplits", "Namespaced", "v1alpha2")
	cluster := crd("example.com", "Widget", "widgets", "Cluster", "v1")
	seeded := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "web", "namespace": "shop"}, "spec": map[string]any{"hosts": []any{"web"}},
	}}
	c := newTestCluster(t, WithObjects(seeded, vs, ts, cluster))
	ctx := context.Background()
	cl := c.Clients()
	got, err := cl.Dynamic.Resource(schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}).
		Namespace("shop").Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err, "seeded custom resources follow their CRD")
	assert.Equal(t, "VirtualService", got.GetKind())

	split := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
		"metadata": map[string]any{"name": "web"}, "spec": map[string]any{"service": "web"},
	}}
	_, err = cl.Dynamic.Resource(schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"}).
		Namespace("default").Create(ctx, split, metav1.CreateOptions{})
	require.NoError(t, err)

	widget := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"},
	}}
	w, err := cl.Dynamic.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}).
		Create(ctx, widget, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Empty(t, w.GetNamespace(), "cluster-scoped")

	require.NoError(t, cl.Dynamic.Resource(crdGVR).Delete(ctx, "widgets.example.com", metav1.DeleteOptions{}))
	idle(t, c)
	_, err = cl.Dynamic.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}).
		Get(ctx, "w", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))
}

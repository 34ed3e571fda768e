package fake

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
)

var configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func TestSharedStoreTypedAndDynamic(t *testing.T) {
	c := newTestCluster(t)
	ctx := context.Background()
	cl := c.Clients()
	_, err := cl.Kube.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "typed"}, Data: map[string]string{"a": "1"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	u, err := cl.Dynamic.Resource(configMapsGVR).Namespace("default").Get(ctx, "typed", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "ConfigMap", u.GetKind())
	v, _, _ := unstructured.NestedString(u.Object, "data", "a")
	assert.Equal(t, "1", v)

	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "dynamic"}, "data": map[string]any{"b": "2"},
	}}
	_, err = cl.Dynamic.Resource(configMapsGVR).Namespace("default").Create(ctx, obj, metav1.CreateOptions{})
	require.NoError(t, err)
	cm, err := cl.Kube.CoreV1().ConfigMaps("default").Get(ctx, "dynamic", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "2", cm.Data["b"])
	assert.NotEmpty(t, cm.UID)
	assert.Equal(t, DefaultStartTime(), cm.CreationTimestamp.Time.UTC())

	list, err := cl.Dynamic.Resource(configMapsGVR).Namespace("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, list.Items, 2)
	assert.NotEmpty(t, list.GetResourceVersion())
}

func TestResourceVersionConflict(t *testing.T) {
	c := newTestCluster(t)
	ctx := context.Background()
	cms := c.Clients().Kube.CoreV1().ConfigMaps("default")
	created, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	first := created.DeepCopy()
	first.Data = map[string]string{"x": "1"}
	updated, err := cms.Update(ctx, first, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, created.ResourceVersion, updated.ResourceVersion)

	stale := created.DeepCopy()
	stale.Data = map[string]string{"x": "2"}
	_, err = cms.Update(ctx, stale, metav1.UpdateOptions{})
	assert.True(t, apierrors.IsConflict(err), "stale update: %v", err)

	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{})
	assert.True(t, apierrors.IsAlreadyExists(err))
	_, err = c.Clients().Kube.CoreV1().ConfigMaps("missing").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{})
	assert.True(t, apierrors.IsNotFound(err), "namespace must exist: %v", err)
}

func TestGenerationAndStatusSubresource(t *testing.T) {
	c := newTestCluster(t)
	ctx := context.Background()
	deps := c.Clients().Kube.AppsV1().Deployments("default")
	d, err := deps.Create(ctx, testDeployment("web", 1, "v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), d.Generation)
	idle(t, c) // the controllers write status; start from the latest
	d = getDeployment(t, c, "web")
	d.Labels = map[string]string{"x": "y"}
	d, err = deps.Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), d.Generation, "metadata changes keep the generation")
	idle(t, c)
	d = getDeployment(t, c, "web")
	d.Spec.Replicas = new(int32)
	d, err = deps.Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), d.Generation)

	idle(t, c)
	d = getDeployment(t, c, "web")
	d.Status.Replicas = 42
	d, err = deps.Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, int32(42), d.Status.Replicas, "status is ignored by the main resource")

	_, err = deps.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":2}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(3), getDeployment(t, c, "web").Generation)
}

func TestServerSideApply(t *testing.T) {
	c := newTestCluster(t)
	ctx := context.Background()
	cms := c.Clients().Kube.CoreV1().ConfigMaps("default")

	cm, err := cms.Apply(ctx, corev1ac.ConfigMap("cfg", "default").WithData(map[string]string{"color": "blue"}),
		metav1.ApplyOptions{FieldManager: "alice"})
	require.NoError(t, err, "apply creates")
	assert.Equal(t, "blue", cm.Data["color"])

	cm, err = cms.Apply(ctx, corev1ac.ConfigMap("cfg", "default").WithData(map[string]string{"color": "green", "size": "L"}),
		metav1.ApplyOptions{FieldManager: "alice"})
	require.NoError(t, err, "apply updates")
	assert.Equal(t, map[string]string{"color": "green", "size": "L"}, cm.Data)

	_, err = cms.Apply(ctx, corev1ac.ConfigMap("cfg", "default").WithData(map[string]string{"color": "red"}),
		metav1.ApplyOptions{FieldManager: "bob"})
	assert.True(t, apierrors.IsConflict(err), "a second manager without force: %v", err)

	cm, err = cms.Apply(ctx, corev1ac.ConfigMap("cfg", "default").WithData(map[string]string{"color": "red"}),
		metav1.ApplyOptions{FieldManager: "bob", Force: true})
	require.NoError(t, err)
	assert.Equal(t, "red", cm.Data["color"])

	// Typed apply of a Deployment, then a field manager removing a field it
	// owns.
	deps := c.Clients().Kube.AppsV1().Deployments("default")
	base := testDeployment("web", 2, "v1")
	ac := appsv1ac.Deployment("web", "default").WithSpec(appsv1ac.DeploymentSpec().
		WithReplicas(2).
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(base.Spec.Selector.MatchLabels)).
		WithTemplate(corev1ac.PodTemplateSpec().WithLabels(base.Spec.Template.Labels).
			WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().WithName("app").WithImage("img:v1")))))
	d, err := deps.Apply(ctx, ac, metav1.ApplyOptions{FieldManager: "switchyard"})
	require.NoError(t, err)
	assert.Equal(t, int32(2), *d.Spec.Replicas)
	assert.NotEmpty(t, d.ManagedFields)
	idle(t, c)
	rss, err := c.Clients().Kube.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, rss.Items, 1, "the controllers see applied objects")
}

func TestFinalizersAndPreconditions(t *testing.T) {
	c := newTestCluster(t)
	ctx := context.Background()
	cms := c.Clients().Kube.CoreV1().ConfigMaps("default")
	_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Finalizers: []string{"example.com/hold"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	wrong := types.UID("nope")
	err = cms.Delete(ctx, "cm", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrong}})
	assert.True(t, apierrors.IsConflict(err))
	require.NoError(t, cms.Delete(ctx, "cm", metav1.DeleteOptions{}))
	cm, err := cms.Get(ctx, "cm", metav1.GetOptions{})
	require.NoError(t, err, "held by its finalizer")
	assert.NotNil(t, cm.DeletionTimestamp)
	cm.Finalizers = nil
	_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	_, err = cms.Get(ctx, "cm", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))
}

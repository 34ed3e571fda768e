package fake

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The controllers write objects that share unchanged parts (templates,
// labels, specs) with the stored objects they derive from. What the API
// hands out must still be a private copy: changing it changes nothing
// stored.
func TestAPIObjectsStayPrivateCopies(t *testing.T) {
	c := newTestCluster(t)
	ctx := testCtx(t)
	kube := c.Clients().Kube
	_, err := kube.AppsV1().Deployments("default").Create(ctx, testDeployment("web", 2, "v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	step(t, c, time.Second)

	pods := listPods(t, c, "app=web")
	require.Len(t, pods, 2)
	rss, err := kube.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, rss.Items, 1)
	want := rss.Items[0].DeepCopy()

	// Scribble over everything the pods could share with their replica set.
	for i := range pods {
		p := &pods[i]
		p.Labels["app"] = "scribbled"
		p.Annotations = map[string]string{"x": "y"}
		p.Spec.Containers[0].Image = "scribbled"
		p.Spec.Containers[0].Ports[0].ContainerPort = 1
		p.Status.Conditions[0].Reason = "scribbled"
	}
	rs := &rss.Items[0]
	rs.Spec.Template.Labels["app"] = "scribbled"
	rs.Spec.Template.Spec.Containers[0].Image = "scribbled"

	got, err := kube.AppsV1().ReplicaSets("default").Get(ctx, want.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, apiequality.Semantic.DeepEqual(want, got), "stored replica set changed")
	for _, p := range listPods(t, c, "app=web") {
		assert.Equal(t, "example.com/app:v1", p.Spec.Containers[0].Image)
		assert.Equal(t, int32(8080), p.Spec.Containers[0].Ports[0].ContainerPort)
		assert.Empty(t, p.Annotations)
		for _, cnd := range p.Status.Conditions {
			assert.NotEqual(t, "scribbled", cnd.Reason)
		}
	}
}

// The status comparisons that skip reflection agree with
// apiequality.Semantic.DeepEqual.
func TestStatusComparisons(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	local := metav1.NewTime(t0.In(time.FixedZone("x", 3600))) // same instant, another zone
	later := metav1.NewTime(t0.Add(time.Second))
	one, two := int32(1), int32(2)

	dep := func(f func(*appsv1.DeploymentStatus)) appsv1.DeploymentStatus {
		st := appsv1.DeploymentStatus{Replicas: 3, Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, LastUpdateTime: t0, LastTransitionTime: t0},
		}}
		f(&st)
		return st
	}
	deps := []appsv1.DeploymentStatus{
		dep(func(*appsv1.DeploymentStatus) {}),
		dep(func(s *appsv1.DeploymentStatus) { s.Conditions[0].LastUpdateTime = local }),
		dep(func(s *appsv1.DeploymentStatus) { s.Conditions[0].LastUpdateTime = later }),
		dep(func(s *appsv1.DeploymentStatus) { s.Conditions = nil }),
		dep(func(s *appsv1.DeploymentStatus) { s.Conditions = nil; s.Replicas = 2 }),
		dep(func(s *appsv1.DeploymentStatus) { s.CollisionCount = &one }),
		dep(func(s *appsv1.DeploymentStatus) { s.CollisionCount = &two }),
		dep(func(s *appsv1.DeploymentStatus) { s.TerminatingReplicas = &one }),
	}
	for i := range deps {
		for j := range deps {
			assert.Equal(t, apiequality.Semantic.DeepEqual(&deps[i], &deps[j]), equalDeploymentStatus(&deps[i], &deps[j]), "deployment status %d vs %d", i, j)
		}
	}

	rs := func(f func(*appsv1.ReplicaSetStatus)) appsv1.ReplicaSetStatus {
		st := appsv1.ReplicaSetStatus{Replicas: 3, Conditions: []appsv1.ReplicaSetCondition{
			{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, LastTransitionTime: t0},
		}}
		f(&st)
		return st
	}
	rss := []appsv1.ReplicaSetStatus{
		rs(func(*appsv1.ReplicaSetStatus) {}),
		rs(func(s *appsv1.ReplicaSetStatus) { s.Conditions[0].LastTransitionTime = local }),
		rs(func(s *appsv1.ReplicaSetStatus) { s.Conditions[0].Message = "m" }),
		rs(func(s *appsv1.ReplicaSetStatus) { s.Conditions = []appsv1.ReplicaSetCondition{} }),
		rs(func(s *appsv1.ReplicaSetStatus) { s.Conditions = nil }),
		rs(func(s *appsv1.ReplicaSetStatus) { s.AvailableReplicas = 1 }),
		rs(func(s *appsv1.ReplicaSetStatus) { s.TerminatingReplicas = &two }),
	}
	for i := range rss {
		for j := range rss {
			assert.Equal(t, apiequality.Semantic.DeepEqual(&rss[i], &rss[j]), equalReplicaSetStatus(&rss[i], &rss[j]), "replica set status %d vs %d", i, j)
		}
	}
}

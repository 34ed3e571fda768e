package fake

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func testStatefulSet(name string, replicas int32, image string) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: image}}},
			},
		},
	}
}

// stsPods returns the names of the set's pods that are not terminating, and
// how many of them are Ready.
func stsPods(t *testing.T, c *Cluster, set string) (names []string, ready int) {
	t.Helper()
	pods, err := c.Clients().Kube.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, p := range pods.Items {
		if ref := metav1.GetControllerOf(&p); ref == nil || ref.Name != set || p.DeletionTimestamp != nil {
			continue
		}
		names = append(names, p.Name)
		if podReady(&p) {
			ready++
		}
	}
	return names, ready
}

func getStatefulSet(t *testing.T, c *Cluster, name string) *appsv1.StatefulSet {
	t.Helper()
	s, err := c.Clients().Kube.AppsV1().StatefulSets("default").Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return s
}

func TestStatefulSetOrderedStart(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t)
	_, err := c.Clients().Kube.AppsV1().StatefulSets("default").Create(context.Background(), testStatefulSet("db", 3, "db:1"), metav1.CreateOptions{})
	require.NoError(t, err)

	// Each pod starts only once the one before it is Ready (1s each).
	for i := 1; i <= 3; i++ {
		idle(t, c)
		names, ready := stsPods(t, c, "db")
		assert.Len(t, names, i, "after %d steps", i-1)
		assert.Equal(t, i-1, ready)
		assert.Contains(t, names, fmt.Sprintf("db-%d", i-1))
		sts := getStatefulSet(t, c, "db")
		assert.Equal(t, int32(i), sts.Status.Replicas)
		assert.Equal(t, int32(i-1), sts.Status.ReadyReplicas)
		step(t, c, time.Second)
	}
	sts := getStatefulSet(t, c, "db")
	assert.Equal(t, appsv1.StatefulSetStatus{
		ObservedGeneration: 1, Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3,
		CurrentRevision: sts.Status.UpdateRevision, UpdateRevision: sts.Status.UpdateRevision, CollisionCount: ptr.To[int32](0),
	}, sts.Status)
	assert.Contains(t, sts.Status.UpdateRevision, "db-")

	pod, err := c.Clients().Kube.CoreV1().Pods("default").Get(context.Background(), "db-1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "db-1", pod.Spec.Hostname)
	assert.Equal(t, "db", pod.Spec.Subdomain)
	assert.Equal(t, "1", pod.Labels[appsv1.PodIndexLabel])
	assert.Equal(t, sts.Status.UpdateRevision, pod.Labels[appsv1.ControllerRevisionHashLabelKey])
}

func TestStatefulSetParallelStart(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t)
	sts := testStatefulSet("cache", 3, "cache:1")
	sts.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	_, err := c.Clients().Kube.AppsV1().StatefulSets("default").Create(context.Background(), sts, metav1.CreateOptions{})
	require.NoError(t, err)
	idle(t, c)
	names, ready := stsPods(t, c, "cache")
	assert.Len(t, names, 3)
	assert.Zero(t, ready)
	step(t, c, time.Second)
	_, ready = stsPods(t, c, "cache")
	assert.Equal(t, 3, ready)
}

func TestStatefulSetRollingUpdate(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t)
	sets := c.Clients().Kube.AppsV1().StatefulSets("default")
	_, err := sets.Create(context.Background(), testStatefulSet("db", 3, "db:1"), metav1.CreateOptions{})
	require.NoError(t, err)
	for range 3 {
		step(t, c, time.Second)
	}
	before := getStatefulSet(t, c, "db")
	require.Equal(t, int32(3), before.Status.ReadyReplicas)

	before.Spec.Template.Spec.Containers[0].Image = "db:2"
	_, err = sets.Update(context.Background(), before, metav1.UpdateOptions{})
	require.NoError(t, err)
	idle(t, c)
	mid := getStatefulSet(t, c, "db")
	assert.NotEqual(t, mid.Status.CurrentRevision, mid.Status.UpdateRevision, "the old revision stays current during the update")
	assert.Equal(t, before.Status.UpdateRevision, mid.Status.CurrentRevision)

	// The highest ordinal goes first: db-2 runs the new image before db-0.
	image := func(name string) string {
		p, err := c.Clients().Kube.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return ""
		}
		require.NoError(t, err)
		return p.Spec.Containers[0].Image
	}
	for i := 0; i < 20 && image("db-2") != "db:2"; i++ {
		step(t, c, time.Second)
	}
	assert.Equal(t, "db:2", image("db-2"))
	assert.Equal(t, "db:1", image("db-0"))
	for i := 0; i < 30 && getStatefulSet(t, c, "db").Status.CurrentRevision != mid.Status.UpdateRevision; i++ {
		step(t, c, time.Second)
	}
	after := getStatefulSet(t, c, "db")
	assert.Equal(t, after.Status.UpdateRevision, after.Status.CurrentRevision)
	assert.Equal(t, int32(3), after.Status.UpdatedReplicas)
	assert.Equal(t, int32(3), after.Status.CurrentReplicas)
	assert.Equal(t, int32(3), after.Status.ReadyReplicas)
	for i := range 3 {
		assert.Equal(t, "db:2", image(fmt.Sprintf("db-%d", i)))
	}
}

func TestStatefulSetScaleDownHighestFirst(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t)
	sets := c.Clients().Kube.AppsV1().StatefulSets("default")
	_, err := sets.Create(context.Background(), testStatefulSet("db", 3, "db:1"), metav1.CreateOptions{})
	require.NoError(t, err)
	for range 3 {
		step(t, c, time.Second)
	}
	sts := getStatefulSet(t, c, "db")
	sts.Spec.Replicas = ptr.To[int32](1)
	_, err = sets.Update(context.Background(), sts, metav1.UpdateOptions{})
	require.NoError(t, err)
	idle(t, c)
	names, _ := stsPods(t, c, "db")
	assert.ElementsMatch(t, []string{"db-0", "db-1"}, names, "db-2 goes first, alone")
	for range 3 {
		step(t, c, time.Second)
	}
	names, _ = stsPods(t, c, "db")
	assert.Equal(t, []string{"db-0"}, names)
	assert.Equal(t, int32(1), getStatefulSet(t, c, "db").Status.Replicas)
}

func TestStatefulSetClaimsAndValidation(t *testing.T) {
	t.Parallel()
	c := newTestCluster(t)
	sets := c.Clients().Kube.AppsV1().StatefulSets("default")
	sts := testStatefulSet("db", 1, "db:1")
	sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
	}}
	_, err := sets.Create(context.Background(), sts, metav1.CreateOptions{})
	require.NoError(t, err)
	idle(t, c)
	pvc, err := c.Clients().Kube.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "data-db-0", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, corev1.ClaimBound, pvc.Status.Phase)
	pod, err := c.Clients().Kube.CoreV1().Pods("default").Get(context.Background(), "db-0", metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, pod.Spec.Volumes, 1)
	assert.Equal(t, "data-db-0", pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName)

	got := getStatefulSet(t, c, "db")
	assert.Equal(t, appsv1.OrderedReadyPodManagement, got.Spec.PodManagementPolicy)
	assert.Equal(t, ptr.To[int32](0), got.Spec.UpdateStrategy.RollingUpdate.Partition)
	got.Spec.ServiceName = "other"
	_, err = sets.Update(context.Background(), got, metav1.UpdateOptions{})
	assert.True(t, apierrors.IsInvalid(err), "serviceName cannot change: %v", err)
}

package fake

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// readyPair is (ready pods of the new ReplicaSet, ready pods of the old).
type readyPair struct{ New, Old int32 }

// rolloutState reads the replica sets of a deployment.
func rolloutState(t *testing.T, c *Cluster, name string) (pair readyPair, newAvail, oldAvail, pods int32) {
	t.Helper()
	d := getDeployment(t, c, name)
	rss, err := c.Clients().Kube.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	for _, rs := range rss.Items {
		if ref := metav1.GetControllerOf(&rs); ref == nil || ref.UID != d.UID {
			continue
		}
		if rs.Annotations[RevisionAnnotation] == d.Annotations[RevisionAnnotation] {
			pair.New += rs.Status.ReadyReplicas
			newAvail += rs.Status.AvailableReplicas
		} else {
			pair.Old += rs.Status.ReadyReplicas
			oldAvail += rs.Status.AvailableReplicas
		}
		pods += rs.Status.Replicas
	}
	return pair, newAvail, oldAvail, pods
}

func TestRollingUpdate(t *testing.T) {
	tests := map[string]struct {
		replicas           int32
		surge, unavailable intstr.IntOrString
		want               []readyPair // after the template change, then after each 1s step
	}{
		"defaults 25%/25% of 3": {3, intstr.FromString("25%"), intstr.FromString("25%"),
			[]readyPair{{0, 3}, {1, 2}, {2, 1}, {3, 0}}},
		"surge 0 unavailable 1": {3, intstr.FromInt32(0), intstr.FromInt32(1),
			[]readyPair{{0, 2}, {1, 1}, {2, 0}, {3, 0}}},
		"surge 100% unavailable 0": {3, intstr.FromString("100%"), intstr.FromInt32(0),
			[]readyPair{{0, 3}, {3, 0}}},
		"surge 2 unavailable 2 of 4": {4, intstr.FromInt32(2), intstr.FromInt32(2),
			[]readyPair{{0, 2}, {4, 0}}},
		"both zero means unavailable 1": {2, intstr.FromInt32(0), intstr.FromInt32(0),
			[]readyPair{{0, 1}, {1, 0}, {2, 0}}},
		"percent rounding 10 replicas 15%/15%": {10, intstr.FromString("15%"), intstr.FromString("15%"),
			// surge rounds up to 2, unavailable down to 1
			[]readyPair{{0, 9}, {3, 6}, {6, 3}, {9, 0}, {10, 0}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newTestCluster(t)
			ctx := context.Background()
			deps := c.Clients().Kube.AppsV1().Deployments("default")
			d := withStrategy(testDeployment("web", tc.replicas, "v1"), tc.surge, tc.unavailable)
			_, err := deps.Create(ctx, d, metav1.CreateOptions{})
			require.NoError(t, err)
			step(t, c, time.Second)
			got, _, _, _ := rolloutState(t, c, "web")
			require.Equal(t, readyPair{tc.replicas, 0}, got, "all pods of revision 1 ready")

			cur := getDeployment(t, c, "web")
			cur.Spec.Template.Labels[DefaultVersionLabel] = "v2"
			_, err = deps.Update(ctx, cur, metav1.UpdateOptions{})
			require.NoError(t, err)
			idle(t, c)

			surge, unavail := resolveFenceposts(&tc.surge, &tc.unavailable, tc.replicas)
			var seq []readyPair
			for i := 0; i < 20; i++ {
				pair, newAvail, oldAvail, pods := rolloutState(t, c, "web")
				assert.LessOrEqual(t, pods, tc.replicas+surge, "pods above replicas+maxSurge at step %d", i)
				assert.GreaterOrEqual(t, newAvail+oldAvail, tc.replicas-unavail, "availability below replicas-maxUnavailable at step %d", i)
				seq = append(seq, pair)
				if pair == (readyPair{tc.replicas, 0}) {
					break
				}
				step(t, c, time.Second)
			}
			if diff := cmp.Diff(tc.want, seq); diff != "" {
				t.Errorf("(new ready, old ready) sequence (-want +got):\n%s", diff)
			}
			d = getDeployment(t, c, "web")
			assert.Equal(t, "2", d.Annotations[RevisionAnnotation])
			assert.Equal(t, tc.replicas, d.Status.UpdatedReplicas)
			assert.Equal(t, tc.replicas, d.Status.AvailableReplicas)
			assert.Equal(t, d.Generation, d.Status.ObservedGeneration)
			progressing := getCondition(d.Status, appsv1.DeploymentProgressing)
			require.NotNil(t, progressing)
			assert.Equal(t, ReasonNewRSAvailable, progressing.Reason)
		})
	}
}

func TestMinReadySeconds(t *testing.T) {
	c := newTestCluster(t)
	d := testDeployment("web", 2, "v1")
	d.Spec.MinReadySeconds = 10
	_, err := c.Clients().Kube.AppsV1().Deployments("default").Create(context.Background(), d, metav1.CreateOptions{})
	require.NoError(t, err)
	step(t, c, time.Second)
	got := getDeployment(t, c, "web").Status
	assert.Equal(t, int32(2), got.ReadyReplicas)
	assert.Equal(t, int32(0), got.AvailableReplicas, "ready but not for minReadySeconds yet")
	step(t, c, 9*time.Second)
	got = getDeployment(t, c, "web").Status
	assert.Equal(t, int32(0), got.AvailableReplicas, "1s before minReadySeconds have passed")
	step(t, c, time.Second)
	got = getDeployment(t, c, "web").Status
	assert.Equal(t, int32(2), got.AvailableReplicas, "available exactly minReadySeconds after Ready")
}

func TestRecreate(t *testing.T) {
	c := newTestCluster(t)
	ctx := context.Background()
	deps := c.Clients().Kube.AppsV1().Deployments("default")
	d := testDeployment("web", 3, "v1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	_, err := deps.Create(ctx, d, metav1.CreateOptions{})
	require.NoError(t, err)
	step(t, c, time.Second)

	cur := getDeployment(t, c, "web")
	cur.Spec.Template.Labels[DefaultVersionLabel] = "v2"
	_, err = deps.Update(ctx, cur, metav1.UpdateOptions{})
	require.NoError(t, err)
	idle(t, c)
	// Old pods are terminating; no new pod may exist yet.
	pair, _, _, pods := rolloutState(t, c, "web")
	assert.Equal(t, readyPair{0, 0}, pair)
	assert.Equal(t, int32(0), pods)
	podList, err := c.Clients().Kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: DefaultVersionLabel + "=v2"})
	require.NoError(t, err)
	assert.Empty(t, podList.Items)

	step(t, c, time.Second) // old pods gone (shutdown 1s); new pods created
	podList, err = c.Clients().Kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: DefaultVersionLabel + "=v1"})
	require.NoError(t, err)
	assert.Empty(t, podList.Items)
	step(t, c, time.Second)
	pair, _, _, _ = rolloutState(t, c, "web")
	assert.Equal(t, readyPair{3, 0}, pair)
}

func TestScaleAndPause(t *testing.T) {
	c := newTestCluster(t)
	ctx := context.Background()
	deps := c.Clients().Kube.AppsV1().Deployments("default")
	_, err := deps.Create(ctx, testDeployment("web", 2, "v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	step(t, c, time.Second)

	cur := getDeployment(t, c, "web")
	cur.Spec.Paused = true
	cur.Spec.Template.Labels[DefaultVersionLabel] = "v2"
	_, err = deps.Update(ctx, cur, metav1.UpdateOptions{})
	require.NoError(t, err)
	step(t, c, time.Second)
	cur = getDeployment(t, c, "web")
	assert.Equal(t, "1", cur.Annotations[RevisionAnnotation], "a paused deployment does not roll out")
	assert.Equal(t, ReasonPaused, getCondition(cur.Status, appsv1.DeploymentProgressing).Reason)

	sc, err := deps.GetScale(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	sc.Spec.Replicas = 4
	_, err = deps.UpdateScale(ctx, "web", sc, metav1.UpdateOptions{})
	require.NoError(t, err)
	step(t, c, time.Second)
	assert.Equal(t, int32(4), getDeployment(t, c, "web").Status.ReadyReplicas, "paused deployments still scale")

	cur = getDeployment(t, c, "web")
	cur.Spec.Paused = false
	_, err = deps.Update(ctx, cur, metav1.UpdateOptions{})
	require.NoError(t, err)
	for i := 0; i < 10; i++ {
		step(t, c, time.Second)
	}
	cur = getDeployment(t, c, "web")
	assert.Equal(t, "2", cur.Annotations[RevisionAnnotation])
	assert.Equal(t, int32(4), cur.Status.UpdatedReplicas)
	assert.Equal(t, int32(4), cur.Status.AvailableReplicas)
}

func TestProgressDeadlineExceeded(t *testing.T) {
	c := newTestCluster(t)
	c.SetBehavior("v1", Behavior{NeverReady: true})
	d := testDeployment("web", 2, "v1")
	d.Spec.ProgressDeadlineSeconds = new(int32)
	*d.Spec.ProgressDeadlineSeconds = 30
	_, err := c.Clients().Kube.AppsV1().Deployments("default").Create(context.Background(), d, metav1.CreateOptions{})
	require.NoError(t, err)
	step(t, c, 29*time.Second)
	p := getCondition(getDeployment(t, c, "web").Status, appsv1.DeploymentProgressing)
	require.NotNil(t, p)
	assert.Equal(t, corev1.ConditionTrue, p.Status, "%+v", p)
	step(t, c, 2*time.Second)
	p = getCondition(getDeployment(t, c, "web").Status, appsv1.DeploymentProgressing)
	assert.Equal(t, corev1.ConditionFalse, p.Status)
	assert.Equal(t, ReasonProgressDeadline, p.Reason, fmt.Sprintf("%+v", p))
	a := getCondition(getDeployment(t, c, "web").Status, appsv1.DeploymentAvailable)
	assert.Equal(t, ReasonMinimumUnavailable, a.Reason)
}

func TestDeleteDeploymentCascades(t *testing.T) {
	c := newTestCluster(t, WithPodShutdown(0))
	ctx := context.Background()
	_, err := c.Clients().Kube.AppsV1().Deployments("default").Create(ctx, testDeployment("web", 2, "v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	step(t, c, time.Second)
	require.NoError(t, c.Clients().Kube.AppsV1().Deployments("default").Delete(ctx, "web", metav1.DeleteOptions{}))
	idle(t, c)
	rss, err := c.Clients().Kube.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, rss.Items)
	pods, err := c.Clients().Kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, pods.Items)
}

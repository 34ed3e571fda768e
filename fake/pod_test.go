package fake

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func listPods(t *testing.T, c *Cluster, selector string) []corev1.Pod {
	t.Helper()
	l, err := c.Clients().Kube.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	require.NoError(t, err)
	return l.Items
}

func TestPodBehaviors(t *testing.T) {
	tests := map[string]struct {
		behavior     Behavior
		after        time.Duration
		wantReady    bool
		wantRestarts bool
	}{
		"healthy turns Ready after the default 1s": {Behavior{}, time.Second, true, false},
		"not Ready before start-up":                {Behavior{Startup: 5 * time.Second}, 4 * time.Second, false, false},
		"Ready after its own start-up":             {Behavior{Startup: 5 * time.Second}, 5 * time.Second, true, false},
		"NeverReady":                               {Behavior{NeverReady: true}, time.Hour, false, false},
		"CrashLoop":                                {Behavior{CrashLoop: true}, time.Minute, false, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newTestCluster(t)
			c.SetBehavior("v1", tc.behavior)
			assert.Equal(t, tc.behavior, c.Behavior("v1"))
			_, err := c.Clients().Kube.AppsV1().Deployments("default").Create(context.Background(), testDeployment("web", 2, "v1"), metav1.CreateOptions{})
			require.NoError(t, err)
			step(t, c, tc.after)
			pods := listPods(t, c, "app=web")
			require.Len(t, pods, 2)
			ips := map[string]bool{}
			for _, p := range pods {
				assert.Equal(t, tc.wantReady, podReady(&p), p.Name)
				assert.Equal(t, corev1.PodRunning, p.Status.Phase)
				assert.Contains(t, []string{"fake-node-0", "fake-node-1", "fake-node-2"}, p.Spec.NodeName)
				assert.Regexp(t, `^10\.24[4-7]\.\d+\.\d+$`, p.Status.PodIP)
				ips[p.Status.PodIP] = true
				assert.Equal(t, tc.wantRestarts, restarts(&p) > 0, "restarts %d", restarts(&p))
			}
			assert.Len(t, ips, 2, "pod IPs are unique")
		})
	}
}

func TestBehaviorChangeAffectsExistingPods(t *testing.T) {
	c := newTestCluster(t)
	_, err := c.Clients().Kube.AppsV1().Deployments("default").Create(context.Background(), testDeployment("web", 1, "v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	step(t, c, time.Second)
	require.True(t, podReady(&listPods(t, c, "app=web")[0]))
	c.SetBehavior("v1", Behavior{NeverReady: true})
	idle(t, c)
	assert.False(t, podReady(&listPods(t, c, "app=web")[0]), "readiness fails")
	c.SetBehavior("v1", Behavior{})
	idle(t, c)
	assert.True(t, podReady(&listPods(t, c, "app=web")[0]), "and recovers")
}

func endpoints(t *testing.T, c *Cluster, svc string) []discoveryv1.Endpoint {
	t.Helper()
	l, err := c.Clients().Kube.DiscoveryV1().EndpointSlices("default").List(context.Background(),
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	return l.Items[0].Endpoints
}

func TestEndpointSlicesFollowReadiness(t *testing.T) {
	c := newTestCluster(t)
	ctx := context.Background()
	svc, err := c.Clients().Kube.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Regexp(t, `^10\.96\.`, svc.Spec.ClusterIP)
	_, err = c.Clients().Kube.AppsV1().Deployments("default").Create(ctx, testDeployment("web", 2, "v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	idle(t, c)
	eps := endpoints(t, c, "web")
	require.Len(t, eps, 2)
	for _, e := range eps {
		assert.False(t, *e.Conditions.Ready)
	}
	step(t, c, time.Second)
	eps = endpoints(t, c, "web")
	for _, e := range eps {
		assert.True(t, *e.Conditions.Ready)
		assert.True(t, *e.Conditions.Serving)
		assert.False(t, *e.Conditions.Terminating)
	}
	l, err := c.Clients().Kube.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(8080), *l.Items[0].Ports[0].Port, "named target port resolved")

	// Deleting a pod: it terminates for the shutdown time, then goes.
	victim := listPods(t, c, "app=web")[0]
	require.NoError(t, c.Clients().Kube.CoreV1().Pods("default").Delete(ctx, victim.Name, metav1.DeleteOptions{}))
	idle(t, c)
	var terminating int
	for _, e := range endpoints(t, c, "web") {
		if e.TargetRef.Name == victim.Name {
			terminating++
			assert.False(t, *e.Conditions.Ready)
			assert.True(t, *e.Conditions.Serving)
			assert.True(t, *e.Conditions.Terminating)
		}
	}
	assert.Equal(t, 1, terminating)
	step(t, c, time.Second)
	for _, e := range endpoints(t, c, "web") {
		assert.NotEqual(t, victim.Name, e.TargetRef.Name, "terminated pod left the slice")
	}
}

func TestNamespaceDeletion(t *testing.T) {
	c := newTestCluster(t, WithObjects(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "shop"}}))
	ctx := context.Background()
	require.NoError(t, c.Clients().Kube.CoreV1().Namespaces().Delete(ctx, "shop", metav1.DeleteOptions{}))
	idle(t, c)
	_, err := c.Clients().Kube.CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{})
	assert.Error(t, err)
	l, err := c.Clients().Kube.CoreV1().ConfigMaps("shop").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, l.Items)
}

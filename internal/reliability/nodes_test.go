package reliability

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/switchyard-dev/switchyard/internal/controlplane"
)

// TestKwokNodesDeclareEphemeralStorage checks what the bootstrap bundle
// needs of the harness: kwok Nodes with ephemeral-storage, so that a pod
// that requests it schedules and turns Ready. The control plane's Nodes get
// it from controlplane.EnsureNodeCapacity (newEnv calls it). A Node created
// with controlplane.NodeCapacity in its status, as the harness's kwokNode
// could create them, keeps it once kwok has made it Ready.
func TestKwokNodesDeclareEphemeralStorage(t *testing.T) {
	controlplaneOrSkip(t)
	t.Parallel()
	e := newEnv(t, "rel-nodes", true)
	kube := e.clients.Kube
	want := resource.MustParse(controlplane.NodeEphemeralStorage)

	nodes, err := kube.CoreV1().Nodes().List(e.ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
	require.NoError(t, err)
	require.NotEmpty(t, nodes.Items)
	for _, n := range nodes.Items {
		got := n.Status.Allocatable[corev1.ResourceEphemeralStorage]
		assert.Zero(t, want.Cmp(got), "node %s allocatable ephemeral-storage %s", n.Name, got.String())
	}

	t.Run("a pod that requests it is scheduled and Ready", func(t *testing.T) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "needs-storage"}, Spec: corev1.PodSpec{
			Tolerations: []corev1.Toleration{kwokToleration},
			Containers: []corev1.Container{{Name: "c", Image: "registry.example/c:1", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("10Gi")}}}},
		}}
		_, err := kube.CoreV1().Pods(e.ns).Create(e.ctx, pod, metav1.CreateOptions{})
		require.NoError(t, err)
		lw := cache.NewListWatchFromClient(kube.CoreV1().RESTClient(), "pods", e.ns, fields.OneTermEqualSelector("metadata.name", pod.Name))
		_, err = watchtools.UntilWithSync(e.ctx, lw, &corev1.Pod{}, nil, func(ev watch.Event) (bool, error) {
			p, ok := ev.Object.(*corev1.Pod)
			return ok && p.Spec.NodeName != "" && podReady(p), nil
		})
		require.NoError(t, err, "the pod is scheduled and Ready")
	})

	t.Run("a Node created with NodeCapacity keeps it", func(t *testing.T) {
		// Named and labelled apart from the harness's Nodes; the not-ready
		// taint the apiserver adds keeps pods off it.
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "reliability-capacity-probe",
				Annotations: map[string]string{controlplane.KwokNodeAnnotation: "fake"},
				Labels:      map[string]string{"type": "reliability-probe"}},
			Status: corev1.NodeStatus{Capacity: controlplane.NodeCapacity(), Allocatable: controlplane.NodeCapacity()},
		}
		_, err := kube.CoreV1().Nodes().Create(e.ctx, node, metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = kube.CoreV1().Nodes().Delete(context.Background(), node.Name, metav1.DeleteOptions{}) })
		lw := cache.NewListWatchFromClient(kube.CoreV1().RESTClient(), "nodes", "", fields.OneTermEqualSelector("metadata.name", node.Name))
		last, err := watchtools.UntilWithSync(e.ctx, lw, &corev1.Node{}, nil, func(ev watch.Event) (bool, error) {
			n, ok := ev.Object.(*corev1.Node)
			for _, c := range n.Status.Conditions {
				if ok && c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		require.NoError(t, err, "kwok makes the Node Ready")
		n := last.Object.(*corev1.Node)
		for _, list := range []corev1.ResourceList{n.Status.Capacity, n.Status.Allocatable} {
			got := list[corev1.ResourceEphemeralStorage]
			assert.Zero(t, want.Cmp(got), "ephemeral-storage %s after kwok's node stage", got.String())
			cpu := list[corev1.ResourceCPU]
			assert.Equal(t, "1k", cpu.String(), "kwok's own defaults kept")
		}
	})
}

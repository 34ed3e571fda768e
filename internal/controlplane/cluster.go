package controlplane

import (
	"context"
	"fmt"
	"runtime"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"
)

// notReadyTaint is added to every new Node by the TaintNodesByCondition
// admission plugin; only the node lifecycle controller, which does not run
// here, would remove it.
const notReadyTaint = "node.kubernetes.io/not-ready"

// waitCluster creates the kwok Nodes, then waits until each is Ready and
// untainted and the default ServiceAccount exists (pods are refused before).
func (cp *ControlPlane) waitCluster(ctx context.Context) error {
	ctx, cancel := cp.cancelOnExit(ctx)
	defer cancel(nil)
	client, err := kubernetes.NewForConfig(cp.cfg)
	if err != nil {
		return err
	}
	n := cp.Nodes
	if n == 0 {
		n = 3
	}
	for i := range n {
		if _, err := client.CoreV1().Nodes().Create(ctx, kwokNode(fmt.Sprintf("kwok-node-%d", i)), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating kwok node: %w", cp.cause(ctx, err))
		}
	}
	if n > 0 {
		if err := waitNodes(ctx, client, n); err != nil {
			return fmt.Errorf("waiting for %d Ready nodes: %w", n, cp.cause(ctx, err))
		}
	}
	lw := cache.NewListWatchFromClient(client.CoreV1().RESTClient(), "serviceaccounts", metav1.NamespaceDefault,
		fields.OneTermEqualSelector("metadata.name", "default"))
	_, err = watchtools.UntilWithSync(ctx, lw, &corev1.ServiceAccount{}, nil, func(ev watch.Event) (bool, error) {
		return ev.Type == watch.Added || ev.Type == watch.Modified, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the default ServiceAccount: %w", cp.cause(ctx, err))
	}
	return nil
}

// kwokNode is a Node that kwok manages.
func kwokNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Annotations: map[string]string{KwokNodeAnnotation: "fake"},
		Labels: map[string]string{
			"type":                   "kwok",
			"kubernetes.io/hostname": name,
			"kubernetes.io/os":       "linux",
			"kubernetes.io/arch":     runtime.GOARCH,
		},
	}, Status: corev1.NodeStatus{Capacity: NodeCapacity(), Allocatable: NodeCapacity()}}
}

// waitNodes waits until n kwok Nodes are Ready, removing the not-ready taint
// wherever it shows up.
func waitNodes(ctx context.Context, client kubernetes.Interface, n int) error {
	lw := cache.NewFilteredListWatchFromClient(client.CoreV1().RESTClient(), "nodes", "", func(o *metav1.ListOptions) {
		o.LabelSelector = "type=kwok"
	})
	ready := map[string]bool{}
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Node{}, nil, func(ev watch.Event) (bool, error) {
		node, ok := ev.Object.(*corev1.Node)
		if !ok {
			return false, nil
		}
		if ev.Type == watch.Deleted {
			delete(ready, node.Name)
			return false, nil
		}
		if hasTaint(node, notReadyTaint) {
			if err := removeTaint(ctx, client, node.Name, notReadyTaint); err != nil {
				return false, err
			}
		}
		ready[node.Name] = nodeReady(node) && !hasTaint(node, notReadyTaint)
		count := 0
		for _, r := range ready {
			if r {
				count++
			}
		}
		return count >= n, nil
	})
	return err
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hasTaint(node *corev1.Node, key string) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

// removeTaint removes every taint with key from a Node; kwok writes status
// at the same time, so it retries on conflict.
func removeTaint(ctx context.Context, client kubernetes.Interface, name, key string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		taints := node.Spec.Taints[:0]
		for _, t := range node.Spec.Taints {
			if t.Key != key {
				taints = append(taints, t)
			}
		}
		node.Spec.Taints = taints
		_, err = client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
}

// cancelOnExit returns a context that is cancelled, with the process's
// ExitError as cause, when any process exits.
func (cp *ControlPlane) cancelOnExit(ctx context.Context) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	for _, p := range cp.procs {
		go func() {
			select {
			case <-p.done:
				cancel(p.exited())
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// cause prefers the reason ctx was cancelled (a process exit) over err.
func (cp *ControlPlane) cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && c != ctx.Err() {
		return c
	}
	return fmt.Errorf("%w (logs in %s)", err, cp.logDir)
}

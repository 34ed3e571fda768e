package controlplane

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// NodeEphemeralStorage is the ephemeral-storage every kwok Node should
// declare. kwok's node stage gives a Node without a capacity of its own
// cpu 1k, memory 1Ti and pods 1M but no ephemeral-storage, so without it a
// pod that requests ephemeral-storage never schedules ("Insufficient
// ephemeral-storage").
const NodeEphemeralStorage = "100Gi"

// NodeCapacity is the capacity (and allocatable) of a kwok Node: kwok's
// defaults plus NodeEphemeralStorage. kwok's node stage keeps a capacity
// the Node already has, so a Node created with it keeps it.
func NodeCapacity() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("1k"),
		corev1.ResourceMemory:           resource.MustParse("1Ti"),
		corev1.ResourcePods:             resource.MustParse("1M"),
		corev1.ResourceEphemeralStorage: resource.MustParse(NodeEphemeralStorage),
	}
}

// EnsureNodeCapacity gives every kwok Node (label type=kwok) that declares
// no ephemeral-storage the NodeEphemeralStorage, in its status's capacity
// and allocatable, and leaves the rest of its status alone. It is for
// control planes whose Nodes were created without NodeCapacity.
func EnsureNodeCapacity(ctx context.Context, client kubernetes.Interface) error {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
	if err != nil {
		return fmt.Errorf("listing kwok nodes: %w", err)
	}
	storage := map[string]string{string(corev1.ResourceEphemeralStorage): NodeEphemeralStorage}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"capacity": storage, "allocatable": storage}})
	if err != nil {
		return err
	}
	for _, n := range nodes.Items {
		if _, ok := n.Status.Allocatable[corev1.ResourceEphemeralStorage]; ok {
			continue
		}
		if _, err := client.CoreV1().Nodes().Patch(ctx, n.Name, types.StrategicMergePatchType, patch,
			metav1.PatchOptions{}, "status"); err != nil {
			return fmt.Errorf("declaring the ephemeral-storage of node %s: %w", n.Name, err)
		}
	}
	return nil
}

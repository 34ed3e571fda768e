package traffic

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-dev/switchyard/strategy"
)

// ServiceSelector steers a Service between slots by the slot label in its
// selector.
type ServiceSelector struct {
	Kube    kubernetes.Interface
	Service types.NamespacedName
}

// Point makes the Service select slot's pods, in one write that changes
// only the slot label of the selector.
func (s ServiceSelector) Point(ctx context.Context, slot string) (*corev1.Service, error) {
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"selector": map[string]string{strategy.LabelSlot: slot}}})
	if err != nil {
		return nil, err
	}
	svc, err := s.Kube.CoreV1().Services(s.Service.Namespace).Patch(ctx, s.Service.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return nil, fmt.Errorf("pointing Service %s at slot %s: %w", s.Service, slot, err)
	}
	return svc, nil
}

// Slot returns the slot svc selects, or "" when it selects no slot in
// particular.
func Slot(svc *corev1.Service) string { return svc.Spec.Selector[strategy.LabelSlot] }

// Steerable reports why svc cannot be steered between slots of pods with
// podLabels: its selector must be non-empty and, without the slot label,
// match the pods.
func Steerable(svc *corev1.Service, podLabels map[string]string) error {
	sel := map[string]string{}
	for k, v := range svc.Spec.Selector {
		if k != strategy.LabelSlot {
			sel[k] = v
		}
	}
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		return fmt.Errorf("an ExternalName Service has no selector to steer")
	case len(sel) == 0:
		return fmt.Errorf("its selector %v names nothing but the slot, so it would select other apps' pods", svc.Spec.Selector)
	case !labels.SelectorFromSet(sel).Matches(labels.Set(podLabels)):
		return fmt.Errorf("its selector %v does not match the workload's pod labels %v", svc.Spec.Selector, podLabels)
	}
	return nil
}

package slots

import (
	"context"
	"encoding/json"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/strategy"
)

// The app's HorizontalPodAutoscaler (autoscaling/v2), when a spec names
// one, scales the Deployment that serves: the slot that carries the app's
// traffic, or the plain Deployment a first blue/green release adopts. A
// release sizes the new slot from that Deployment's replicas, never writes
// them, and moves the autoscaler's scaleTargetRef, and nothing else of it,
// to the new slot when traffic moves there (and back when it returns).

// AutoscalerPath is the field of both specs that names the autoscaler.
const AutoscalerPath = "spec.autoscaler"

// ValidateAutoscaler checks, before any write, that the
// HorizontalPodAutoscaler name exists in app's namespace as
// autoscaling/v2 and scales one of app's Deployments: the one named after
// the app, or a slot. What is wrong goes to v at AutoscalerPath; errors
// reading it other than not-found are returned.
func ValidateAutoscaler(ctx context.Context, kube kubernetes.Interface, retry func(context.Context, func(context.Context) error) error,
	app types.NamespacedName, name string, v *strategy.Validator) error {
	if name == "" {
		return nil
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		for _, msg := range msgs {
			v.Add(AutoscalerPath, name, "%s", msg)
		}
		return nil
	}
	hpa, err := getAutoscaler(ctx, kube, retry, app.Namespace, name)
	switch {
	case apierrors.IsNotFound(err):
		v.Add(AutoscalerPath, name, "no autoscaling/v2 HorizontalPodAutoscaler of that name in %s", app.Namespace)
	case err != nil:
		return err
	default:
		if _, err := scaledDeployment(app, hpa); err != nil {
			v.Add(AutoscalerPath, name, "%v", err)
		}
	}
	return nil
}

func getAutoscaler(ctx context.Context, kube kubernetes.Interface, retry func(context.Context, func(context.Context) error) error,
	ns, name string) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		hpa, err = kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("reading HorizontalPodAutoscaler %s/%s: %w", ns, name, err)
		}
		return err
	})
	return hpa, err
}

// scaledDeployment returns the name of the app's Deployment that hpa
// scales, or why it is not one of the app's.
func scaledDeployment(app types.NamespacedName, hpa *autoscalingv2.HorizontalPodAutoscaler) (string, error) {
	ref := hpa.Spec.ScaleTargetRef
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || gv.Group != "apps" || ref.Kind != "Deployment" {
		return "", fmt.Errorf("scales %s %s (%s), not a Deployment of the app", ref.Kind, ref.Name, ref.APIVersion)
	}
	switch ref.Name {
	case app.Name, Name(app.Name, Blue), Name(app.Name, Green):
		return ref.Name, nil
	}
	return "", fmt.Errorf("scales Deployment %s, which is not the app's (%s, %s or %s)",
		ref.Name, app.Name, Name(app.Name, Blue), Name(app.Name, Green))
}

// autoscalerError is a *strategy.ValidationError at AutoscalerPath: the
// autoscaler changed since validation into one a release must not touch.
func autoscalerError(name string, err error) error {
	return &strategy.ValidationError{Fields: []strategy.FieldError{{Path: AutoscalerPath, Value: name, Message: err.Error()}}}
}

// loadAutoscaler reads the autoscaler, checks that it still scales one of
// the app's Deployments, and reads the size of that Deployment when it is
// not a slot (the slots are in the cache).
func (s *Slots) loadAutoscaler(ctx context.Context) error {
	if s.Autoscaler == "" {
		return nil
	}
	retry := s.Driver.Retry
	hpa, err := getAutoscaler(ctx, s.Kube, retry, s.App.Namespace, s.Autoscaler)
	if apierrors.IsNotFound(err) {
		return autoscalerError(s.Autoscaler, fmt.Errorf("no autoscaling/v2 HorizontalPodAutoscaler of that name in %s", s.App.Namespace))
	}
	if err != nil {
		return err
	}
	target, err := scaledDeployment(s.App, hpa)
	if err != nil {
		return autoscalerError(s.Autoscaler, err)
	}
	s.hpa = hpa
	if target != s.App.Name {
		return nil
	}
	return retry(ctx, func(ctx context.Context) error {
		dep, err := s.Kube.AppsV1().Deployments(s.App.Namespace).Get(ctx, target, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err == nil {
			s.adoptedSize = ptr.Deref(dep.Spec.Replicas, 1)
		}
		return err
	})
}

// Scaled is the name of the Deployment the autoscaler scales, "" without
// one.
func (s *Slots) Scaled() string {
	if s.hpa == nil {
		return ""
	}
	return s.hpa.Spec.ScaleTargetRef.Name
}

// ScaledReplicas is the size the autoscaler chose: the replicas of the
// Deployment it scales, as it set them. Without an autoscaler, or when that
// Deployment does not run (an app's first release), it is fallback, the
// workload's replicas. A slot's size comes from the cache; the adopted
// Deployment's was read when the Run started.
func (s *Slots) ScaledReplicas(fallback int32) int32 {
	target := s.Scaled()
	n := int32(0)
	switch target {
	case "":
	case s.App.Name:
		n = s.adoptedSize
	default:
		if dep, ok := s.Deploys.Get(s.App.Namespace, target); ok {
			n = ptr.Deref(dep.Spec.Replicas, 1)
		}
	}
	if n > 0 {
		return n
	}
	return fallback
}

// PointAutoscaler makes the autoscaler scale Deployment name (a slot or
// the adopted one) with a merge patch of its scaleTargetRef alone,
// conditional on the resourceVersion last read; on any error it reads the
// autoscaler again, checks it is still the app's, and tries again. Without
// an autoscaler, when it already scales name, or when it was deleted during
// the release, it writes nothing.
func (s *Slots) PointAutoscaler(ctx context.Context, name string) error {
	if s.hpa == nil || s.Scaled() == name {
		return nil
	}
	ns, hpas := s.App.Namespace, s.Kube.AutoscalingV2().HorizontalPodAutoscalers(s.App.Namespace)
	from, reread, gone := s.Scaled(), false, false
	// Deleted during the release: nothing to move. Sizes follow the
	// Deployment that serves, as they would have.
	forget := func() error {
		gone = true
		s.hpa.Spec.ScaleTargetRef.Name = name
		return nil
	}
	err := s.Driver.Retry(ctx, func(ctx context.Context) error {
		if reread {
			hpa, err := hpas.Get(ctx, s.Autoscaler, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return forget()
			}
			if err != nil {
				return fmt.Errorf("reading HorizontalPodAutoscaler %s/%s: %w", ns, s.Autoscaler, err)
			}
			if _, err := scaledDeployment(s.App, hpa); err != nil {
				return autoscalerError(s.Autoscaler, err)
			}
			s.hpa = hpa
			if s.Scaled() == name {
				return nil
			}
		}
		reread = true
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": s.hpa.ResourceVersion},
			"spec": map[string]any{"scaleTargetRef": map[string]any{
				"apiVersion": "apps/v1", "kind": "Deployment", "name": name}},
		})
		if err != nil {
			return err
		}
		hpa, err := hpas.Patch(ctx, s.Autoscaler, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: s.FieldManager})
		if apierrors.IsNotFound(err) {
			return forget()
		}
		if err != nil {
			return fmt.Errorf("pointing HorizontalPodAutoscaler %s/%s at %s: %w", ns, s.Autoscaler, name, err)
		}
		s.hpa = hpa
		return nil
	})
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("HorizontalPodAutoscaler %s now scales %s instead of %s", s.Autoscaler, name, from)
	if gone {
		msg = fmt.Sprintf("HorizontalPodAutoscaler %s is gone: nothing to point at %s", s.Autoscaler, name)
	}
	s.Driver.Emit(ctx, strategy.Event{Type: strategy.EventTraffic, Object: "HorizontalPodAutoscaler " + ns + "/" + s.Autoscaler, Message: msg})
	return nil
}

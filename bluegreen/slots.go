package bluegreen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/strategy"
)

// The two slots.
const (
	Blue  = "blue"
	Green = "green"
)

func other(slot string) string {
	if slot == Blue {
		return Green
	}
	return Blue
}

// SlotName is the name of app's Deployment for slot.
func SlotName(app, slot string) string { return app + "-" + slot }

// companionName is the per-revision name of a companion object, so that the
// two slots never share mutable configuration.
func companionName(name, revision string) string {
	sum := sha256.Sum256([]byte(revision))
	return name + "-" + hex.EncodeToString(sum[:])[:8]
}

// slotDeployment builds slot's Deployment for revision from the release's
// workload, at replicas.
func (rn *run) slotDeployment(slot, revision string, w *appsv1.Deployment, replicas int32) *appsv1.Deployment {
	app := rn.rel.App
	spec := w.Spec.DeepCopy()
	spec.Replicas = ptr.To(replicas)
	spec.Paused = false
	// A slot is only rolled while it is idle: replace its pods all at once.
	all := intstr.FromString("100%")
	spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &all, MaxUnavailable: &all}}
	spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{strategy.LabelApp: app.Name, strategy.LabelSlot: slot}}
	spec.Template.Labels = labels.Merge(spec.Template.Labels, map[string]string{
		strategy.LabelApp: app.Name, strategy.LabelSlot: slot, strategy.LabelRevision: revision,
	})
	renameCompanions(&spec.Template.Spec, rn.companionNames(revision))
	if rn.s.spec.AntiAffinity {
		addAntiAffinity(&spec.Template.Spec, app.Name, other(slot))
	}
	return &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name: SlotName(app.Name, slot), Namespace: app.Namespace,
			Labels:      labels.Merge(w.Labels, map[string]string{strategy.LabelApp: app.Name, strategy.LabelSlot: slot, strategy.LabelManagedBy: strategy.ManagedBy}),
			Annotations: w.Annotations,
		},
		Spec: *spec,
	}
}

func addAntiAffinity(ps *corev1.PodSpec, app, otherSlot string) {
	if ps.Affinity == nil {
		ps.Affinity = &corev1.Affinity{}
	}
	if ps.Affinity.PodAntiAffinity == nil {
		ps.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	pa := ps.Affinity.PodAntiAffinity
	pa.PreferredDuringSchedulingIgnoredDuringExecution = append(pa.PreferredDuringSchedulingIgnoredDuringExecution,
		corev1.WeightedPodAffinityTerm{Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{
			TopologyKey:   corev1.LabelHostname,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{strategy.LabelApp: app, strategy.LabelSlot: otherSlot}},
		}})
}

// companionNames maps each companion ConfigMap and Secret of the release to
// its per-revision name, keyed by kind and original name.
func (rn *run) companionNames(revision string) map[string]string {
	names := map[string]string{}
	for _, o := range rn.rel.Objects {
		switch o.GetKind() {
		case "ConfigMap", "Secret":
			names[o.GetKind()+"/"+o.GetName()] = companionName(o.GetName(), revision)
		}
	}
	return names
}

// renameCompanions points every reference of the pod spec to a companion
// ConfigMap or Secret at its per-revision copy.
func renameCompanions(ps *corev1.PodSpec, names map[string]string) {
	if len(names) == 0 {
		return
	}
	cm := func(n *string) {
		if to, ok := names["ConfigMap/"+*n]; ok {
			*n = to
		}
	}
	sec := func(n *string) {
		if to, ok := names["Secret/"+*n]; ok {
			*n = to
		}
	}
	for i := range ps.Volumes {
		v := &ps.Volumes[i].VolumeSource
		if v.ConfigMap != nil {
			cm(&v.ConfigMap.Name)
		}
		if v.Secret != nil {
			sec(&v.Secret.SecretName)
		}
		if v.Projected != nil {
			for j := range v.Projected.Sources {
				src := &v.Projected.Sources[j]
				if src.ConfigMap != nil {
					cm(&src.ConfigMap.Name)
				}
				if src.Secret != nil {
					sec(&src.Secret.Name)
				}
			}
		}
	}
	containers := func(cs []corev1.Container) {
		for i := range cs {
			c := &cs[i]
			for j := range c.EnvFrom {
				if r := c.EnvFrom[j].ConfigMapRef; r != nil {
					cm(&r.Name)
				}
				if r := c.EnvFrom[j].SecretRef; r != nil {
					sec(&r.Name)
				}
			}
			for j := range c.Env {
				if vf := c.Env[j].ValueFrom; vf != nil {
					if vf.ConfigMapKeyRef != nil {
						cm(&vf.ConfigMapKeyRef.Name)
					}
					if vf.SecretKeyRef != nil {
						sec(&vf.SecretKeyRef.Name)
					}
				}
			}
		}
	}
	containers(ps.InitContainers)
	containers(ps.Containers)
}

// apply server-side applies obj with the strategy's field manager.
func (rn *run) apply(ctx context.Context, resource string, obj any, namespace, name string) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encoding %s %s: %w", resource, name, err)
	}
	opts := metav1.PatchOptions{FieldManager: rn.s.cfg.FieldManager, Force: ptr.To(true)}
	kube := rn.s.clients.Kube
	return rn.d.Retry(ctx, func(ctx context.Context) error {
		var err error
		switch resource {
		case "deployments":
			_, err = kube.AppsV1().Deployments(namespace).Patch(ctx, name, types.ApplyPatchType, body, opts)
		case "configmaps":
			_, err = kube.CoreV1().ConfigMaps(namespace).Patch(ctx, name, types.ApplyPatchType, body, opts)
		case "secrets":
			_, err = kube.CoreV1().Secrets(namespace).Patch(ctx, name, types.ApplyPatchType, body, opts)
		case "services":
			_, err = kube.CoreV1().Services(namespace).Patch(ctx, name, types.ApplyPatchType, body, opts)
		default:
			return fmt.Errorf("cannot apply %s", resource)
		}
		if err != nil {
			return fmt.Errorf("applying %s %s/%s: %w", resource, namespace, name, err)
		}
		return nil
	})
}

// deploySlot applies the release's companions and slot's Deployment at
// replicas, then deletes the slot's companions of other revisions.
func (rn *run) deploySlot(ctx context.Context, slot string, replicas int32) error {
	app, rev := rn.rel.App, rn.rel.Revision
	for _, o := range rn.rel.Objects {
		kind := o.GetKind()
		if kind != "ConfigMap" && kind != "Secret" {
			continue
		}
		c := o.DeepCopy()
		c.SetNamespace(app.Namespace)
		c.SetName(companionName(o.GetName(), rev))
		c.SetResourceVersion("")
		c.SetLabels(labels.Merge(c.GetLabels(), map[string]string{
			strategy.LabelApp: app.Name, strategy.LabelSlot: slot, strategy.LabelRevision: rev, strategy.LabelManagedBy: strategy.ManagedBy,
		}))
		resource := "configmaps"
		if kind == "Secret" {
			resource = "secrets"
		}
		if err := rn.apply(ctx, resource, c.Object, app.Namespace, c.GetName()); err != nil {
			return err
		}
	}
	dep := rn.slotDeployment(slot, rev, rn.rel.Workload, replicas)
	if err := rn.apply(ctx, "deployments", dep, app.Namespace, dep.Name); err != nil {
		return err
	}
	return rn.collectCompanions(ctx, slot, rev)
}

// collectCompanions deletes slot's companion objects of revisions other than
// keep.
func (rn *run) collectCompanions(ctx context.Context, slot, keep string) error {
	app := rn.rel.App
	sel := fmt.Sprintf("%s=%s,%s=%s,%s!=%s", strategy.LabelApp, app.Name, strategy.LabelSlot, slot, strategy.LabelRevision, keep)
	kube := rn.s.clients.Kube
	return rn.d.Retry(ctx, func(ctx context.Context) error {
		opts := metav1.ListOptions{LabelSelector: sel}
		cms, err := kube.CoreV1().ConfigMaps(app.Namespace).List(ctx, opts)
		if err != nil {
			return err
		}
		for _, c := range cms.Items {
			if err := kube.CoreV1().ConfigMaps(app.Namespace).Delete(ctx, c.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		secs, err := kube.CoreV1().Secrets(app.Namespace).List(ctx, opts)
		if err != nil {
			return err
		}
		for _, s := range secs.Items {
			if err := kube.CoreV1().Secrets(app.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		return nil
	})
}

// scale sets a Deployment's replicas with a merge patch.
func (rn *run) scale(ctx context.Context, name string, replicas int32) error {
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas))
	return rn.d.Retry(ctx, func(ctx context.Context) error {
		_, err := rn.s.clients.Kube.AppsV1().Deployments(rn.rel.App.Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// labelPods writes role metadata onto slot's pods in place.
func (rn *run) labelPods(ctx context.Context, slot string, md PodMetadata) error {
	if len(md.Labels) == 0 && len(md.Annotations) == 0 {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": md.Labels, "annotations": md.Annotations}})
	if err != nil {
		return err
	}
	for _, p := range rn.slotPods(slot) {
		err := rn.d.Retry(ctx, func(ctx context.Context) error {
			_, err := rn.s.clients.Kube.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("labelling pod %s: %w", p.Name, err)
		}
	}
	return nil
}

// Package slots is the two-slot model that blue/green and canary releases
// share: each app has two Deployments, <app>-blue and <app>-green, one
// serving and one idle or carrying the new revision, with per-revision
// companion ConfigMaps and Secrets, and watch caches that say how many of a
// slot's pods are available and which pods a Service's endpoints reach.
package slots

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

	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/strategy"
)

// The two slots.
const (
	Blue  = "blue"
	Green = "green"
)

// Other returns the slot that is not slot.
func Other(slot string) string {
	if slot == Blue {
		return Green
	}
	return Blue
}

// Name is the name of app's Deployment for slot.
func Name(app, slot string) string { return app + "-" + slot }

// CompanionName is the per-revision name of a companion object, so that the
// two slots never share mutable configuration.
func CompanionName(name, revision string) string {
	sum := sha256.Sum256([]byte(revision))
	return name + "-" + hex.EncodeToString(sum[:])[:8]
}

// Deployment builds slot's Deployment for the release at replicas.
func (s *Slots) Deployment(slot string, rel strategy.Release, replicas int32) *appsv1.Deployment {
	app, revision, w := s.App, rel.Revision, rel.Workload
	spec := w.Spec.DeepCopy()
	spec.Replicas = ptr.To(replicas)
	spec.Paused = false
	spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: s.Rollout}
	if s.Rollout == nil {
		// A slot rolled while it is idle can replace its pods all at once.
		all := intstr.FromString("100%")
		spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &all, MaxUnavailable: &all}
	}
	spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{strategy.LabelApp: app.Name, strategy.LabelSlot: slot}}
	spec.Template.Labels = labels.Merge(spec.Template.Labels, map[string]string{
		strategy.LabelApp: app.Name, strategy.LabelSlot: slot, strategy.LabelRevision: revision,
	})
	renameCompanions(&spec.Template.Spec, companionNames(rel))
	if s.AntiAffinity {
		addAntiAffinity(&spec.Template.Spec, app.Name, Other(slot))
	}
	return &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name: Name(app.Name, slot), Namespace: app.Namespace,
			Labels:      labels.Merge(w.Labels, map[string]string{strategy.LabelApp: app.Name, strategy.LabelSlot: slot, strategy.LabelManagedBy: strategy.ManagedBy}),
			Annotations: labels.Merge(w.Annotations, map[string]string{strategy.AnnotationOwner: s.Driver.OwnerMark()}),
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
func companionNames(rel strategy.Release) map[string]string {
	names := map[string]string{}
	for _, o := range rel.Objects {
		switch o.GetKind() {
		case "ConfigMap", "Secret":
			names[o.GetKind()+"/"+o.GetName()] = CompanionName(o.GetName(), rel.Revision)
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

// Foreign counts what could serve in slot without being of revision, as
// the caches have it: the slot's pods of another revision that are neither
// terminating nor finished, Ready or not (a pod the Deployment controller
// has not yet removed can still turn Ready), and, when service is not "",
// the ready endpoints of Service service on pods of slot of another
// revision, terminating or not (the EndpointSlices lag the pods). A slot
// takes traffic only once both are 0: a slot rolled from an older revision
// keeps that revision's pods until the controller has scaled its old
// ReplicaSet down and deleted them, which can come after the new pods are
// Ready, and the Services select a slot's pods whatever their revision.
// An endpoint whose pod is not in the cache is left to Endpoints, which
// counts it elsewhere.
func (s *Slots) Foreign(service, slot, revision string) (pods, endpoints int32) {
	for _, p := range s.PodsOf(slot) {
		if p.Labels[strategy.LabelRevision] != revision && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			pods++
		}
	}
	if service == "" {
		return pods, 0
	}
	ns := s.App.Namespace
	for _, es := range s.Slices.ByIndex(objcache.IndexService, service) {
		for _, ep := range es.Endpoints {
			// As kube-proxy reads it: unset means ready.
			if !ptr.Deref(ep.Conditions.Ready, true) || ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				continue
			}
			p, ok := s.Pods.Get(ns, ep.TargetRef.Name)
			if ok && p.Labels[strategy.LabelApp] == s.App.Name && p.Labels[strategy.LabelSlot] == slot && p.Labels[strategy.LabelRevision] != revision {
				endpoints++
			}
		}
	}
	return pods, endpoints
}

// Apply server-side applies obj, a Deployment, ConfigMap, Secret or
// Service of the app's namespace, with the field manager, retrying
// transient errors.
func (s *Slots) Apply(ctx context.Context, resource string, obj any, name string) error {
	namespace := s.App.Namespace
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encoding %s %s: %w", resource, name, err)
	}
	opts := metav1.PatchOptions{FieldManager: s.FieldManager, Force: ptr.To(true)}
	kube := s.Kube
	return s.Driver.Retry(ctx, func(ctx context.Context) error {
		var err error
		switch resource {
		case "deployments":
			var dep *appsv1.Deployment
			if dep, err = kube.AppsV1().Deployments(namespace).Patch(ctx, name, types.ApplyPatchType, body, opts); err == nil && s.Deploys != nil {
				s.Deploys.Observe(dep)
			}
		case "configmaps":
			_, err = kube.CoreV1().ConfigMaps(namespace).Patch(ctx, name, types.ApplyPatchType, body, opts)
		case "secrets":
			_, err = kube.CoreV1().Secrets(namespace).Patch(ctx, name, types.ApplyPatchType, body, opts)
		case "services":
			var svc *corev1.Service
			if svc, err = kube.CoreV1().Services(namespace).Patch(ctx, name, types.ApplyPatchType, body, opts); err == nil && s.Services != nil {
				s.Services.Observe(svc) // read our write: no second write of it
			}
		default:
			return fmt.Errorf("cannot apply %s", resource)
		}
		if err != nil {
			return fmt.Errorf("applying %s %s/%s: %w", resource, namespace, name, err)
		}
		return nil
	})
}

// Deploy applies the release's companions and slot's Deployment at
// replicas, then deletes the slot's companions of other revisions.
func (s *Slots) Deploy(ctx context.Context, slot string, rel strategy.Release, replicas int32) error {
	app, rev := s.App, rel.Revision
	for _, o := range rel.Objects {
		kind := o.GetKind()
		if kind != "ConfigMap" && kind != "Secret" {
			continue
		}
		c := o.DeepCopy()
		c.SetNamespace(app.Namespace)
		c.SetName(CompanionName(o.GetName(), rev))
		c.SetResourceVersion("")
		c.SetLabels(labels.Merge(c.GetLabels(), map[string]string{
			strategy.LabelApp: app.Name, strategy.LabelSlot: slot, strategy.LabelRevision: rev, strategy.LabelManagedBy: strategy.ManagedBy,
		}))
		c.SetAnnotations(labels.Merge(c.GetAnnotations(), map[string]string{strategy.AnnotationOwner: s.Driver.OwnerMark()}))
		resource := "configmaps"
		if kind == "Secret" {
			resource = "secrets"
		}
		if err := s.mustOwn(ctx, resource, c.GetName()); err != nil {
			return err
		}
		if err := s.Apply(ctx, resource, c.Object, c.GetName()); err != nil {
			return err
		}
	}
	collect := s.mayHaveCompanions(slot, rel)
	dep := s.Deployment(slot, rel, replicas)
	if err := s.mustOwn(ctx, "deployments", dep.Name); err != nil {
		return err
	}
	if err := s.Apply(ctx, "deployments", dep, dep.Name); err != nil {
		return err
	}
	if !collect {
		return nil
	}
	return s.collectCompanions(ctx, slot, rev)
}

// mayHaveCompanions reports whether slot may hold companion objects to
// collect: false only when the release has none and the record's history
// holds the slot's current revision and shows no revision with any, so
// that releases without companions list none.
func (s *Slots) mayHaveCompanions(slot string, rel strategy.Release) bool {
	if len(rel.Objects) > 0 {
		return true
	}
	prev, _ := s.Revision(slot)
	seen := prev == ""
	for _, h := range s.Driver.Record().History {
		if len(h.Objects) > 0 {
			return true
		}
		seen = seen || h.Revision == prev
	}
	return !seen
}

// collectCompanions deletes slot's companion objects of revisions other than
// keep.
func (s *Slots) collectCompanions(ctx context.Context, slot, keep string) error {
	app := s.App
	sel := fmt.Sprintf("%s=%s,%s=%s,%s!=%s", strategy.LabelApp, app.Name, strategy.LabelSlot, slot, strategy.LabelRevision, keep)
	kube := s.Kube
	return s.Driver.Retry(ctx, func(ctx context.Context) error {
		opts := metav1.ListOptions{LabelSelector: sel}
		cms, err := kube.CoreV1().ConfigMaps(app.Namespace).List(ctx, opts)
		if err != nil {
			return err
		}
		for _, c := range cms.Items {
			if !s.Driver.Owns(&c) {
				continue // labelled like a companion, but not this app's
			}
			if err := kube.CoreV1().ConfigMaps(app.Namespace).Delete(ctx, c.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		secs, err := kube.CoreV1().Secrets(app.Namespace).List(ctx, opts)
		if err != nil {
			return err
		}
		for _, sec := range secs.Items {
			if !s.Driver.Owns(&sec) {
				continue
			}
			if err := kube.CoreV1().Secrets(app.Namespace).Delete(ctx, sec.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		return nil
	})
}

// Scale sets a Deployment's replicas with a merge patch; a missing
// Deployment is left alone.
func (s *Slots) Scale(ctx context.Context, name string, replicas int32) error {
	if name == Name(s.App.Name, Blue) || name == Name(s.App.Name, Green) {
		if err := s.mustOwn(ctx, "deployments", name); err != nil {
			return err
		}
	}
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas))
	return s.Driver.Retry(ctx, func(ctx context.Context) error {
		dep, err := s.Kube.AppsV1().Deployments(s.App.Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err == nil && s.Deploys != nil && dep.Labels[strategy.LabelApp] == s.App.Name {
			s.Deploys.Observe(dep) // a slot's Deployment; an adopted one is not in the cache
		}
		return err
	})
}

// LabelPods writes role labels and annotations onto slot's pods in place.
func (s *Slots) LabelPods(ctx context.Context, slot string, labels, annotations map[string]string) error {
	if len(labels) == 0 && len(annotations) == 0 {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels, "annotations": annotations}})
	if err != nil {
		return err
	}
	for _, p := range s.PodsOf(slot) {
		err := s.Driver.Retry(ctx, func(ctx context.Context) error {
			_, err := s.Kube.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{})
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

// mustOwn returns a *strategy.ForeignObjectError when an object named name
// exists that this app's releases did not create; a missing one is fine.
// A slot's Deployment is judged from the cache, where the app's own are.
func (s *Slots) mustOwn(ctx context.Context, resource, name string) error {
	ns := s.App.Namespace
	if resource == "deployments" && s.Deploys != nil {
		if d, ok := s.Deploys.Get(ns, name); ok {
			if s.Driver.Owns(d) {
				return nil
			}
			return &strategy.ForeignObjectError{Kind: "Deployment", Namespace: ns, Name: name}
		}
	}
	var obj metav1.Object
	kind := ""
	err := s.Driver.Retry(ctx, func(ctx context.Context) error {
		var err error
		switch resource {
		case "deployments":
			kind = "Deployment"
			var d *appsv1.Deployment
			if d, err = s.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
				obj = d
			}
		case "configmaps":
			kind = "ConfigMap"
			var c *corev1.ConfigMap
			if c, err = s.Kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
				obj = c
			}
		case "secrets":
			kind = "Secret"
			var c *corev1.Secret
			if c, err = s.Kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
				obj = c
			}
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s %s/%s: %w", resource, ns, name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if obj != nil && !s.Driver.Owns(obj) {
		return &strategy.ForeignObjectError{Kind: kind, Namespace: ns, Name: name}
	}
	return nil
}

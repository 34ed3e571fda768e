package slots

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/internal/shared"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// Slots reads and writes the two slots of one app for a driver.
type Slots struct {
	Kube   kubernetes.Interface
	Driver *flow.Driver
	App    types.NamespacedName
	// FieldManager applies the slots' objects.
	FieldManager string
	// AntiAffinity asks the scheduler to keep the two slots' pods apart.
	AntiAffinity bool
	// Rollout is how a slot replaces its pods when its template changes;
	// nil replaces them all at once, for slots that take no traffic then.
	Rollout *appsv1.RollingUpdateDeployment
	// Autoscaler names the app's HorizontalPodAutoscaler, "" for none
	// (see PointAutoscaler).
	Autoscaler string

	// The caches Watch starts: the app's Deployments and pods, the
	// namespace's Services, and the watched Services' EndpointSlices.
	Deploys  *objcache.Cache[*appsv1.Deployment]
	Pods     *objcache.Cache[*corev1.Pod]
	Services *objcache.Cache[*corev1.Service]
	Slices   *objcache.Cache[*discoveryv1.EndpointSlice]

	// hpa is the autoscaler as last read or written; adoptedSize the
	// replicas of the Deployment named after the app when hpa scales it.
	hpa         *autoscalingv2.HorizontalPodAutoscaler
	adoptedSize int32
}

// Size is slot's replicas, 0 when it has no Deployment. The cache holds
// this Slots' own writes at once (see Deploy and Scale).
func (s *Slots) Size(slot string) int32 {
	_, n := s.Revision(slot)
	return n
}

// Sources are the caches, for flow.WaitFor.
func (s *Slots) Sources() []flow.Source {
	return []flow.Source{s.Deploys, s.Pods, s.Services, s.Slices}
}

// Watch takes the caches from the driver's watches (see
// strategy.Watches), starting those not started yet, and reads the
// autoscaler. The caches hold the namespace's objects; Slots reads the
// app's through their indexes.
func (s *Slots) Watch(ctx context.Context) error {
	ns := s.App.Namespace
	layer := shared.Of(s.Driver.Watches()).Caches
	err := s.Driver.Retry(ctx, func(ctx context.Context) error {
		var err error
		if s.Deploys, err = layer.Deployments(ctx, ns); err != nil {
			return err
		}
		if s.Pods, err = layer.Pods(ctx, ns); err != nil {
			return err
		}
		if s.Services, err = layer.Services(ctx, ns); err != nil {
			return err
		}
		s.Slices, err = layer.EndpointSlices(ctx, ns)
		return err
	})
	if err != nil {
		return err
	}
	return s.loadAutoscaler(ctx)
}

// PodsOf returns slot's pods that are not terminating.
func (s *Slots) PodsOf(slot string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range s.Pods.ByIndex(objcache.IndexApp, s.App.Name) {
		if p.Labels[strategy.LabelSlot] == slot && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// Available counts slot's pods of revision that have been Ready for
// minReady, judged from the pods themselves rather than
// the Deployment's status, which lags by a controller round trip. next is
// when the next Ready pod becomes available, zero when none is pending.
func (s *Slots) Available(slot, revision string, minReady time.Duration) (n int32, next time.Time) {
	now := s.Driver.Now()
	for _, p := range s.PodsOf(slot) {
		if p.Labels[strategy.LabelRevision] != revision {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type != corev1.PodReady || c.Status != corev1.ConditionTrue {
				continue
			}
			at := c.LastTransitionTime.Add(minReady)
			if !now.Before(at) {
				n++
			} else if next.IsZero() || at.Before(next) {
				next = at
			}
		}
	}
	return n, next
}

// Endpoints counts the ready endpoints of Service service whose pods are in
// slot, and those elsewhere.
func (s *Slots) Endpoints(service, slot string) (onSlot, elsewhere int32) {
	ns := s.App.Namespace
	for _, es := range s.Slices.ByIndex(objcache.IndexService, service) {
		for _, ep := range es.Endpoints {
			if !ptr.Deref(ep.Conditions.Ready, false) {
				continue
			}
			if ref := ep.TargetRef; ref != nil && ref.Kind == "Pod" {
				if p, ok := s.Pods.Get(ns, ref.Name); ok && p.Labels[strategy.LabelSlot] == slot {
					onSlot++
					continue
				}
			}
			elsewhere++
		}
	}
	return onSlot, elsewhere
}

// EndpointsNow is Endpoints as the API server has it now: service's
// EndpointSlices, then slot's pods, are read rather than taken from the
// caches. A cache can still show the endpoints a Service had before it
// moved to another slot and back, or before pods were deleted: a wait for
// traffic to be somewhere checks the caches, then confirms with this.
func (s *Slots) EndpointsNow(ctx context.Context, service, slot string) (onSlot, elsewhere int32, err error) {
	ns := s.App.Namespace
	var slices *discoveryv1.EndpointSliceList
	var pods *corev1.PodList
	err = s.Driver.Retry(ctx, func(ctx context.Context) error {
		var err error
		slices, err = s.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
		if err != nil {
			return fmt.Errorf("listing the EndpointSlices of Service %s/%s: %w", ns, service, err)
		}
		// Read after the slices, the pods include every pod they name.
		pods, err = s.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
			LabelSelector: fmt.Sprintf("%s=%s,%s=%s", strategy.LabelApp, s.App.Name, strategy.LabelSlot, slot)})
		if err != nil {
			return fmt.Errorf("listing the pods of slot %s: %w", slot, err)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	inSlot := make(map[string]bool, len(pods.Items))
	for _, p := range pods.Items {
		inSlot[p.Name] = true
	}
	for _, es := range slices.Items {
		for _, ep := range es.Endpoints {
			if !ptr.Deref(ep.Conditions.Ready, false) {
				continue
			}
			if ref := ep.TargetRef; ref != nil && ref.Kind == "Pod" && inSlot[ref.Name] {
				onSlot++
				continue
			}
			elsewhere++
		}
	}
	return onSlot, elsewhere, nil
}

// Settled reports whether the ready endpoints of Service name are all on
// pods of the slot it selects, as the API server has them now (the caches
// first: it reads only when they agree): the EndpointSlices show its last
// move done. A move is undone only once settled, so that what the
// EndpointSlices show next is the move back, not the state from before
// the move; a Service that selects no slot is settled.
func (s *Slots) Settled(ctx context.Context, name string) (bool, error) {
	if slot := s.Selects(name); slot != "" {
		if _, off := s.Endpoints(name, slot); off > 0 {
			return false, nil
		}
	}
	var svc *corev1.Service
	err := s.Driver.Retry(ctx, func(ctx context.Context) error {
		var err error
		if svc, err = s.Kube.CoreV1().Services(s.App.Namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("reading Service %s/%s: %w", s.App.Namespace, name, err)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	slot := traffic.Slot(svc)
	if slot == "" {
		return true, nil
	}
	_, off, err := s.EndpointsNow(ctx, name, slot)
	return err == nil && off == 0, err
}

// Revision is the revision slot's Deployment runs and its replicas; "" and
// 0 when the slot has no Deployment.
func (s *Slots) Revision(slot string) (string, int32) {
	dep, ok := s.Deploys.Get(s.App.Namespace, Name(s.App.Name, slot))
	if !ok {
		return "", 0
	}
	return dep.Spec.Template.Labels[strategy.LabelRevision], ptr.Deref(dep.Spec.Replicas, 1)
}

// Selects returns the slot Service name selects, "" when it selects none
// in particular or does not exist.
func (s *Slots) Selects(name string) string {
	svc, ok := s.Services.Get(s.App.Namespace, name)
	if !ok {
		return ""
	}
	return traffic.Slot(svc)
}

// Point makes Service name select slot, in one write.
func (s *Slots) Point(ctx context.Context, name, slot string) error {
	sel := traffic.ServiceSelector{Kube: s.Kube, Service: types.NamespacedName{Namespace: s.App.Namespace, Name: name}}
	return s.Driver.Retry(ctx, func(ctx context.Context) error {
		svc, err := sel.Point(ctx, slot)
		if err == nil && s.Services != nil {
			s.Services.Observe(svc)
		}
		return err
	})
}

// EnsureService creates Service name when it is missing, selecting the
// pods with selector, with ports, or when ports is empty those of Service
// portsFrom.
func (s *Slots) EnsureService(ctx context.Context, name string, selector map[string]string, ports []corev1.ServicePort, portsFrom string) error {
	ns := s.App.Namespace
	if _, ok := s.Services.Get(ns, name); ok {
		return nil
	}
	if from, ok := s.Services.Get(ns, portsFrom); ok && len(ports) == 0 {
		for _, p := range from.Spec.Ports {
			ports = append(ports, corev1.ServicePort{Name: p.Name, Port: p.Port, TargetPort: p.TargetPort, Protocol: p.Protocol})
		}
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{strategy.LabelApp: s.App.Name, strategy.LabelManagedBy: strategy.ManagedBy}},
		Spec:       corev1.ServiceSpec{Selector: selector, Ports: ports},
	}
	return s.Apply(ctx, "services", svc, name)
}

// ServiceLabels are the labels a Service selects the workload's pods by:
// the selector's matchLabels, or the pod template's labels when the
// selector has only expressions.
func ServiceLabels(w *appsv1.Deployment) map[string]string {
	if w.Spec.Selector != nil && len(w.Spec.Selector.MatchLabels) > 0 {
		return w.Spec.Selector.MatchLabels
	}
	return w.Spec.Template.Labels
}

// History is the release's entry in the record's history, started at
// now: its workload without status, and the names of its companions.
func History(r strategy.Release, now time.Time) strategy.Revision {
	h := strategy.Revision{Revision: r.Revision, Started: now, Workload: &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: r.Workload.Name, Labels: r.Workload.Labels, Annotations: r.Workload.Annotations},
		Spec:       *r.Workload.Spec.DeepCopy(),
	}}
	for _, o := range r.Objects {
		h.Objects = append(h.Objects, o.GetKind()+"/"+o.GetName())
	}
	return h
}

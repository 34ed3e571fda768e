package bluegreen

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/strategy"
)

// watches are the caches a run reads from: the app's slot Deployments and
// pods, the namespace's Services, and the active Service's EndpointSlices.
type watches struct {
	deploys  *objcache.Cache[*appsv1.Deployment]
	pods     *objcache.Cache[*corev1.Pod]
	services *objcache.Cache[*corev1.Service]
	slices   *objcache.Cache[*discoveryv1.EndpointSlice]
}

func (w *watches) sources() []strategy.Source {
	return []strategy.Source{w.deploys, w.pods, w.services, w.slices}
}

func (rn *run) startWatches(ctx context.Context) error {
	ns, app, kube, clk := rn.rel.App.Namespace, rn.rel.App.Name, rn.s.clients.Kube, rn.s.cfg.Clock
	byApp := objcache.ByLabel(strategy.LabelApp + "=" + app)
	deps, pods, svcs := kube.AppsV1().Deployments(ns), kube.CoreV1().Pods(ns), kube.CoreV1().Services(ns)
	eps := kube.DiscoveryV1().EndpointSlices(ns)
	services := rn.s.spec.ActiveService
	if p := rn.s.spec.PreviewService; p != "" {
		services += "," + p
	}
	rn.w = &watches{
		deploys:  objcache.New[*appsv1.Deployment](objcache.For(deps.List, deps.Watch, byApp), clk),
		pods:     objcache.New[*corev1.Pod](objcache.For(pods.List, pods.Watch, byApp), clk),
		services: objcache.New[*corev1.Service](objcache.For(svcs.List, svcs.Watch), clk),
		slices: objcache.New[*discoveryv1.EndpointSlice](objcache.For(eps.List, eps.Watch,
			objcache.ByLabel(fmt.Sprintf("%s in (%s)", discoveryv1.LabelServiceName, services))), clk),
	}
	for _, start := range []func(context.Context) error{rn.w.deploys.Start, rn.w.pods.Start, rn.w.services.Start, rn.w.slices.Start} {
		if err := rn.d.Retry(ctx, start); err != nil {
			return err
		}
	}
	return nil
}

// slotPods returns slot's pods that are not terminating.
func (rn *run) slotPods(slot string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range rn.w.pods.List() {
		if p.Labels[strategy.LabelSlot] == slot && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// available counts slot's pods of revision that have been Ready for the
// workload's minReadySeconds, judged from the pods themselves rather than
// the Deployment's status, which lags by a controller round trip. next is
// when the next Ready pod becomes available, zero when none is pending.
func (rn *run) available(slot, revision string) (n int32, next time.Time) {
	now := rn.d.Now()
	minReady := time.Duration(rn.rel.Workload.Spec.MinReadySeconds) * time.Second
	for _, p := range rn.slotPods(slot) {
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

// endpoints counts the ready endpoints of Service service whose pods are in
// slot, and those elsewhere.
func (rn *run) endpoints(service, slot string) (onSlot, elsewhere int32) {
	ns := rn.rel.App.Namespace
	for _, s := range rn.w.slices.List() {
		if s.Labels[discoveryv1.LabelServiceName] != service {
			continue
		}
		for _, ep := range s.Endpoints {
			if !ptr.Deref(ep.Conditions.Ready, false) {
				continue
			}
			if ref := ep.TargetRef; ref != nil && ref.Kind == "Pod" {
				if p, ok := rn.w.pods.Get(ns, ref.Name); ok && p.Labels[strategy.LabelSlot] == slot {
					onSlot++
					continue
				}
			}
			elsewhere++
		}
	}
	return onSlot, elsewhere
}

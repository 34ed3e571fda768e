package traffic

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// resolver serves one Route call; it caches the pods of each namespace it
// has listed, so a route over several Services lists pods once.
type resolver struct {
	m    *Model
	pods map[string]map[string]*corev1.Pod
}

type endpoint struct {
	podNS, podName string
}

// service returns how the Service ns/name spreads requests over versions:
// version -> fraction, summing to 1, or an empty map when it has no ready
// (or serving terminating) endpoint. A non-nil subset keeps only endpoints
// whose pods carry matching labels (an Istio DestinationRule subset).
func (r *resolver) service(ctx context.Context, ns, name string, subset labels.Selector) (map[string]float64, error) {
	if _, err := r.m.Kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
		return nil, fmt.Errorf("reading Service %s/%s: %w", ns, name, err)
	}
	slices, err := r.m.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + name,
	})
	if err != nil {
		return nil, fmt.Errorf("listing EndpointSlices of Service %s/%s: %w", ns, name, err)
	}
	var ready, terminating []endpoint
	seen := map[string]bool{}
	for i := range slices.Items {
		for j, e := range slices.Items[i].Endpoints {
			key := endpointKey(e, i, j)
			if seen[key] {
				continue // the same endpoint in two slices, during a slice update
			}
			seen[key] = true
			ep := endpoint{podNS: ns}
			if t := e.TargetRef; t != nil && (t.Kind == "" || t.Kind == "Pod") {
				ep.podName = t.Name
				if t.Namespace != "" {
					ep.podNS = t.Namespace
				}
			}
			c := e.Conditions
			switch {
			case c.Ready == nil || *c.Ready:
				ready = append(ready, ep)
			case (c.Serving == nil || *c.Serving) && c.Terminating != nil && *c.Terminating:
				terminating = append(terminating, ep)
			}
		}
	}
	if len(ready) == 0 {
		ready = terminating // kube-proxy's fallback for draining Services
	}
	counts := map[string]int{}
	n := 0
	for _, ep := range ready {
		pod, err := r.pod(ctx, ep)
		if err != nil {
			return nil, err
		}
		if subset != nil && (pod == nil || !subset.Matches(labels.Set(pod.Labels))) {
			continue
		}
		v := ""
		if pod != nil && r.m.VersionLabel != "" {
			v = pod.Labels[r.m.VersionLabel]
		}
		counts[v]++
		n++
	}
	shares := make(map[string]float64, len(counts))
	for v, c := range counts {
		shares[v] = float64(c) / float64(n)
	}
	return shares, nil
}

// endpointKey identifies an endpoint across slices by its first address, as
// kube-proxy does; endpoints without addresses are kept apart.
func endpointKey(e discoveryv1.Endpoint, slice, idx int) string {
	if len(e.Addresses) > 0 {
		return e.Addresses[0]
	}
	return fmt.Sprintf("#%d/%d", slice, idx)
}

// pod returns the endpoint's Pod, or nil when the endpoint names none or the
// Pod is gone (a real proxy still sends it traffic; its version is "").
func (r *resolver) pod(ctx context.Context, ep endpoint) (*corev1.Pod, error) {
	if ep.podName == "" {
		return nil, nil
	}
	byName, ok := r.pods[ep.podNS]
	if !ok {
		list, err := r.m.Kube.CoreV1().Pods(ep.podNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing Pods in %s: %w", ep.podNS, err)
		}
		byName = make(map[string]*corev1.Pod, len(list.Items))
		for i := range list.Items {
			byName[list.Items[i].Name] = &list.Items[i]
		}
		r.pods[ep.podNS] = byName
	}
	return byName[ep.podName], nil
}

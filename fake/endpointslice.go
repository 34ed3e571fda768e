package fake

import (
	"hash/fnv"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
)

// Labels the EndpointSlice controller puts on the slices it manages.
const (
	serviceNameLabel = discoveryv1.LabelServiceName
	managedByLabel   = discoveryv1.LabelManagedBy
	managedByValue   = "endpointslice-controller.k8s.io"
)

// syncService keeps the EndpointSlice of a Service with a selector in step
// with the pods it selects: one slice per Service, endpoints for pods with
// an IP, conditions ready, serving and terminating as the real controller
// sets them.
func (c *Cluster) syncService(ns, name string) {
	s := c.store
	obj, ok := s.get(objKey{gvr: servicesGVR, ns: ns, name: name})
	if !ok {
		return
	}
	svc := obj.(*corev1.Service)
	if len(svc.Spec.Selector) == 0 || svc.DeletionTimestamp != nil {
		return
	}
	sel := labels.SelectorFromValidatedSet(svc.Spec.Selector)
	var pods []*corev1.Pod
	for _, o := range s.list(podsGVR, ns) {
		p := o.(*corev1.Pod)
		if p.Status.PodIP == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if sel.Matches(labels.Set(p.Labels)) {
			pods = append(pods, p)
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	want := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      sliceName(svc),
			Namespace: ns,
			Labels: map[string]string{
				serviceNameLabel: svc.Name,
				managedByLabel:   managedByValue,
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       slicePorts(svc, pods),
		Endpoints:   []discoveryv1.Endpoint{},
	}
	for _, p := range pods {
		ready := podReady(p)
		terminating := p.DeletionTimestamp != nil
		want.Endpoints = append(want.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{p.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{
				Ready:       ptr.To(ready && !terminating),
				Serving:     ptr.To(ready),
				Terminating: ptr.To(terminating),
			},
			NodeName:  ptr.To(p.Spec.NodeName),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		})
	}
	cur, ok := s.get(objKey{gvr: endpointSlicesGVR, ns: ns, name: want.Name})
	if !ok {
		_, _ = s.create(endpointSlicesGVR, ns, want, writeOpts{internal: true})
		return
	}
	have := cur.(*discoveryv1.EndpointSlice)
	if apiequality.Semantic.DeepEqual(&have.Endpoints, &want.Endpoints) && apiequality.Semantic.DeepEqual(&have.Ports, &want.Ports) &&
		have.Labels[serviceNameLabel] == svc.Name && have.Labels[managedByLabel] == managedByValue {
		return
	}
	n := have.DeepCopy()
	n.Endpoints, n.Ports, n.AddressType = want.Endpoints, want.Ports, want.AddressType
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	n.Labels[serviceNameLabel], n.Labels[managedByLabel] = svc.Name, managedByValue
	if _, err := s.update(endpointSlicesGVR, ns, n, writeOpts{internal: true}); err != nil {
		c.queue.add(item{kind: itemService, ns: ns, name: name})
	}
}

// sliceName is the stable name of a Service's slice.
func sliceName(svc *corev1.Service) string {
	h := fnv.New32a()
	h.Write([]byte(svc.UID))
	return svc.Name + "-" + rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))[:5]
}

// slicePorts resolves the Service's target ports against the pods.
func slicePorts(svc *corev1.Service, pods []*corev1.Pod) []discoveryv1.EndpointPort {
	out := []discoveryv1.EndpointPort{}
	for _, sp := range svc.Spec.Ports {
		port := int32(0)
		switch sp.TargetPort.Type {
		case intstr.Int:
			port = sp.TargetPort.IntVal
		case intstr.String:
			port = namedPort(pods, sp.TargetPort.StrVal)
		}
		if port == 0 {
			port = sp.Port
		}
		out = append(out, discoveryv1.EndpointPort{
			Name: ptr.To(sp.Name), Protocol: ptr.To(sp.Protocol), Port: ptr.To(port), AppProtocol: sp.AppProtocol,
		})
	}
	return out
}

func namedPort(pods []*corev1.Pod, name string) int32 {
	for _, p := range pods {
		for _, ct := range p.Spec.Containers {
			for _, cp := range ct.Ports {
				if cp.Name == name {
					return cp.ContainerPort
				}
			}
		}
	}
	return 0
}

package traffic

import (
	"fmt"
	"math"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

const (
	testNS       = "prod"
	versionLabel = "switchyard.dev/revision"
)

// world collects the objects of one test cluster.
type world struct {
	kube []runtime.Object
	dyn  []runtime.Object
	ips  int
	svcs map[string]bool
}

// backend adds Service name whose EndpointSlice lists ready pods of version
// (one pod per count) and notReady pods of the same version.
func (w *world) backend(name, version string, ready, notReady int) *world {
	w.service(name)
	var eps []discoveryv1.Endpoint
	for i := range ready + notReady {
		pod := fmt.Sprintf("%s-%s-%d", name, version, i)
		w.pod(pod, version)
		eps = append(eps, w.endpoint(pod, i < ready, false))
	}
	return w.slice(name, name+"-"+version, eps...)
}

func (w *world) service(name string) *world {
	if w.svcs[name] {
		return w
	}
	if w.svcs == nil {
		w.svcs = map[string]bool{}
	}
	w.svcs[name] = true
	w.kube = append(w.kube, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS}})
	return w
}

func (w *world) pod(name, version string) *world {
	labels := map[string]string{"app": "web"}
	if version != "-" {
		labels[versionLabel] = version
	}
	w.kube = append(w.kube, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: labels}})
	return w
}

func (w *world) endpoint(pod string, ready, terminating bool) discoveryv1.Endpoint {
	w.ips++
	e := discoveryv1.Endpoint{
		Addresses:  []string{fmt.Sprintf("10.0.%d.%d", w.ips/250, w.ips%250)},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &ready},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: pod, Namespace: testNS},
	}
	if terminating {
		t, s := true, true
		e.Conditions.Terminating, e.Conditions.Serving = &t, &s
	}
	return e
}

func (w *world) slice(svc, name string, eps ...discoveryv1.Endpoint) *world {
	w.kube = append(w.kube, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
	})
	return w
}

func (w *world) add(objs ...runtime.Object) *world {
	for _, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok {
			w.dyn = append(w.dyn, u)
		} else {
			w.kube = append(w.kube, o)
		}
	}
	return w
}

var listKinds = map[schema.GroupVersionResource]string{}

func init() {
	for _, set := range [][]schema.GroupVersionResource{httpRouteGVRs, virtualServiceGVRs, destinationRuleGVRs, trafficSplitGVRs} {
		for _, gvr := range set {
			kind := map[string]string{
				"httproutes": "HTTPRouteList", "virtualservices": "VirtualServiceList",
				"destinationrules": "DestinationRuleList", "trafficsplits": "TrafficSplitList",
			}[gvr.Resource]
			listKinds[gvr] = kind
		}
	}
}

func (w *world) model() *Model {
	return &Model{
		Kube:         kubefake.NewClientset(w.kube...),
		Dynamic:      dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, w.dyn...),
		VersionLabel: versionLabel,
	}
}

// obj parses a YAML manifest as the API server would return it (integers
// stay int64).
func obj(t testing.TB, manifest string) *unstructured.Unstructured {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatal(err)
	}
	if u.GetNamespace() == "" {
		u.SetNamespace(testNS)
	}
	return u
}

func ingress(name string, ann map[string]string, host, path, svc string) *networkingv1.Ingress {
	pt := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Annotations: ann},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: path, PathType: &pt, Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}},
				}}},
			}},
		}}},
	}
}

// sameShares compares version shares within 1e-9.
func sameShares(t *testing.T, what string, want, got map[string]float64) {
	t.Helper()
	for v, w := range want {
		if math.Abs(got[v]-w) > 1e-9 {
			t.Errorf("%s[%q] = %v, want %v (all: %v)", what, v, got[v], w, got)
		}
	}
	for v, g := range got {
		if _, ok := want[v]; !ok && g != 0 {
			t.Errorf("%s[%q] = %v, want none (all: %v)", what, v, g, got)
		}
	}
}

// routeCase is one table row shared by the router tests.
type routeCase struct {
	name     string
	world    *world
	entry    Entry
	headers  map[string]string
	serve    map[string]float64
	mirror   map[string]float64
	unserved float64
	wantErr  string // substring; "" means no error
}

func runRouteCases(t *testing.T, cases []routeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.world.model().Route(t.Context(), tc.entry, Request{Headers: tc.headers})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Route: %v", err)
			}
			sameShares(t, "Serve", tc.serve, got.Serve)
			sameShares(t, "Mirror", tc.mirror, got.Mirror)
			if math.Abs(got.Unserved-tc.unserved) > 1e-9 {
				t.Errorf("Unserved = %v, want %v", got.Unserved, tc.unserved)
			}
			sum := got.Unserved
			for _, s := range got.Serve {
				sum += s
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("Serve+Unserved = %v, want 1", sum)
			}
		})
	}
}

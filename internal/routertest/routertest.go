// Package routertest holds the test fixtures of the weighted routers: the
// CRDs their objects need and objects that send all of app web's traffic
// to Service web-stable, so that the router, canary and real-control-plane
// suites test the same objects.
package routertest

import (
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// The CRD manifests, by file name. The HTTPRoute CRD is the gateway-api
// module's release manifest (its standard channel); the Istio and SMI ones
// are test data of this package.
const (
	GatewayCRD = "gateway.networking.k8s.io_httproutes.yaml"
	IstioCRD   = "istio-virtualservice-crd.yaml"
	SMICRD     = "smi-trafficsplit-crd.yaml"
)

//go:embed testdata/*.yaml
var testdata embed.FS

// HTTPRoute, VirtualService and TrafficSplit route app web's requests to
// Services web-stable (all of them) and web-canary (none); the
// TrafficSplit splits root Service web. Create them in the test's
// namespace.
const (
	HTTPRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [web.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs:
    - {name: web-stable, port: 80, weight: 100}
    - {name: web-canary, port: 80, weight: 0}
`
	VirtualService = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web.example.com]
  http:
  - name: primary
    route:
    - {destination: {host: web-stable, port: {number: 80}}, weight: 100}
    - {destination: {host: web-canary, port: {number: 80}}, weight: 0}
`
	TrafficSplit = `
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: web}
spec:
  service: web
  backends:
  - {service: web-stable, weight: 100}
  - {service: web-canary, weight: 0}
`
)

// Ingress is the primary Ingress of NGINX canary routing: name, on host
// web.example.com, sending / to Service stable port 80.
func Ingress(name, stable string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("nginx"), Rules: []networkingv1.IngressRule{{
			Host: "web.example.com",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: stable, Port: networkingv1.ServiceBackendPort{Number: 80}}},
			}}}},
		}}},
	}
}

// Parse decodes one YAML object.
func Parse(tb testing.TB, doc string) *unstructured.Unstructured {
	tb.Helper()
	js, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		tb.Fatalf("parsing YAML: %v", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		tb.Fatalf("decoding object: %v", err)
	}
	return u
}

// crds caches the parsed CRDs by file name: the HTTPRoute CRD is large.
var crds sync.Map

// CRD returns a fresh copy of the CRD of file, one of GatewayCRD, IstioCRD
// and SMICRD.
func CRD(tb testing.TB, file string) *unstructured.Unstructured {
	tb.Helper()
	if u, ok := crds.Load(file); ok {
		return u.(*unstructured.Unstructured).DeepCopy()
	}
	var data []byte
	var err error
	if file == GatewayCRD {
		var dir string
		if dir, err = gatewayModule(); err == nil {
			data, err = os.ReadFile(filepath.Join(dir, "config", "crd", "standard", file))
		}
	} else {
		data, err = testdata.ReadFile("testdata/" + file)
	}
	if err != nil {
		tb.Fatalf("reading CRD %s: %v", file, err)
	}
	u := Parse(tb, string(data))
	crds.Store(file, u)
	return u.DeepCopy()
}

// gatewayModule is the folder of the gateway-api module the main module
// requires.
var gatewayModule = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		return "", fmt.Errorf("finding the gateway-api module: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("the gateway-api module is not downloaded (go mod download sigs.k8s.io/gateway-api)")
	}
	return dir, nil
})

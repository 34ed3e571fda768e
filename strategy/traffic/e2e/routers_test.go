package e2e

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// virtualService has two weighted routes, one with a short and one with a
// fully qualified host, and a route of another app.
func virtualService(ns string) string {
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web.example.com]
  http:
  - name: api
    match: [{uri: {prefix: /api}, headers: {x-tenant: {exact: acme}}}]
    route:
    - {destination: {host: web-stable, port: {number: 80}}, weight: 100}
    - {destination: {host: web-canary, port: {number: 80}}, weight: 0}
  - name: admin
    match: [{uri: {prefix: /admin}}]
    route: [{destination: {host: other}}]
  - name: default
    route:
    - {destination: {host: web-canary.%[1]s.svc.cluster.local}, weight: 0}
    - {destination: {host: web-stable.%[1]s.svc.cluster.local}, weight: 100}
`, ns)
}

func httpRoutes(t *testing.T, u *unstructured.Unstructured) []map[string]any {
	t.Helper()
	raw, _, err := unstructured.NestedSlice(u.Object, "spec", "http")
	require.NoError(t, err)
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

func routeNames(routes []map[string]any) []string {
	out := make([]string, len(routes))
	for i, r := range routes {
		out[i], _ = r["name"].(string)
	}
	return out
}

func TestIstioVirtualService(t *testing.T) {
	e := newEnv(t)
	e.create(traffic.VirtualServiceGVR, virtualService(e.ns))
	r := traffic.NewIstioVirtualService(e.clients, e.key("web"), nil, stable, canary)
	headers, mirror := traffic.Supports(r)
	assert.True(t, headers)
	assert.True(t, mirror)

	// Validate.
	require.NoError(t, r.Validate(e.ctx))
	missing := traffic.NewIstioVirtualService(e.clients, e.key("nope"), nil, stable, canary)
	requireInvalid(t, missing.Validate(e.ctx), "istioVirtualService.virtualService")
	missingRoute := traffic.NewIstioVirtualService(e.clients, e.key("web"), []string{"nope"}, stable, canary)
	requireInvalid(t, missingRoute.Validate(e.ctx), "istioVirtualService.routes[0]")

	// SetWeight.
	e.checkWeights(r, func(w int32) {
		routes := httpRoutes(t, e.get(traffic.VirtualServiceGVR, "web"))
		require.Equal(t, []string{"api", "admin", "default"}, routeNames(routes))
		for _, i := range []int{0, 2} {
			for _, d := range routes[i]["route"].([]any) {
				d := d.(map[string]any)
				host, _, _ := unstructured.NestedString(d, "destination", "host")
				want := int64(100 - w)
				if host == canary || host == canary+"."+e.ns+".svc.cluster.local" {
					want = int64(w)
				}
				assert.Equal(t, want, d["weight"], "route %d destination %s", i, host)
			}
		}
		assert.NotContains(t, routes[1]["route"].([]any)[0], "weight", "another app's route is not touched")
	})

	// Header routes.
	require.NoError(t, r.SetWeight(e.ctx, 25))
	require.NoError(t, r.SetHeaderRoute(e.ctx, "beta", []traffic.HeaderMatch{
		{Name: "X-Canary", Value: "yes"},
		{Name: "X-User", Value: "qa-", Type: traffic.HeaderPrefix},
		{Name: "X-Version", Value: "v[0-9]+", Type: traffic.HeaderRegularExpression},
	}))
	e.noWarnings("SetHeaderRoute")
	routes := httpRoutes(t, e.get(traffic.VirtualServiceGVR, "web"))
	require.Equal(t, []string{"switchyard-header.beta.0", "api", "admin", "switchyard-header.beta.1", "default"}, routeNames(routes))
	for _, i := range []int{0, 3} {
		dests := routes[i]["route"].([]any)
		require.Len(t, dests, 1, "route %d goes to the canary only", i)
		host, _, _ := unstructured.NestedString(dests[0].(map[string]any), "destination", "host")
		assert.Contains(t, []string{canary, canary + "." + e.ns + ".svc.cluster.local"}, host)
		h, _, _ := unstructured.NestedMap(routes[i]["match"].([]any)[0].(map[string]any), "headers")
		assert.Equal(t, map[string]any{"exact": "yes"}, h["x-canary"])
		assert.Equal(t, map[string]any{"prefix": "qa-"}, h["x-user"])
		assert.Equal(t, map[string]any{"regex": "v[0-9]+"}, h["x-version"])
	}
	got, err := r.Weight(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, int32(25), got, "header routes do not count as weighted routes")
	require.NoError(t, r.SetWeight(e.ctx, 75), "SetWeight with header routes")
	got, err = r.Weight(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, int32(75), got)
	require.NoError(t, r.SetHeaderRoute(e.ctx, "beta", []traffic.HeaderMatch{{Name: "X-Canary", Value: "always"}}))
	assert.Len(t, httpRoutes(t, e.get(traffic.VirtualServiceGVR, "web")), 5, "the header route was replaced")
	require.NoError(t, r.RemoveHeaderRoutes(e.ctx))
	assert.Equal(t, []string{"api", "admin", "default"}, routeNames(httpRoutes(t, e.get(traffic.VirtualServiceGVR, "web"))))
	e.noWarnings("RemoveHeaderRoutes")

	// Mirrors.
	for _, p := range []int32{20, 35, 100, 0} {
		require.NoError(t, r.SetMirror(e.ctx, "shadow", p), "SetMirror(%d)", p)
		e.noWarnings(fmt.Sprintf("SetMirror(%d)", p))
		routes := httpRoutes(t, e.get(traffic.VirtualServiceGVR, "web"))
		for _, i := range []int{0, 2} {
			host, _, _ := unstructured.NestedString(routes[i], "mirror", "host")
			assert.Contains(t, []string{canary, canary + "." + e.ns + ".svc.cluster.local"}, host, "route %d", i)
			v, ok, _ := unstructured.NestedFieldNoCopy(routes[i], "mirrorPercentage", "value")
			require.True(t, ok, "route %d has mirrorPercentage", i)
			assert.EqualValues(t, p, v, "route %d", i)
		}
		assert.NotContains(t, routes[1], "mirror", "another app's route is not mirrored")
	}
	e.requests.reset()
	require.NoError(t, r.SetMirror(e.ctx, "shadow", 0))
	writes, _ := e.requests.writes()
	assert.Empty(t, writes, "SetMirror with the mirror already set writes nothing")
	require.NoError(t, r.RemoveMirrors(e.ctx))
	for i, rt := range httpRoutes(t, e.get(traffic.VirtualServiceGVR, "web")) {
		assert.NotContains(t, rt, "mirror", "route %d", i)
		assert.NotContains(t, rt, "mirrorPercentage", "route %d", i)
	}
	e.noWarnings("RemoveMirrors")
	require.NoError(t, r.Validate(e.ctx), "the VirtualService is valid after all the writes")
}

func TestSMITrafficSplit(t *testing.T) {
	e := newEnv(t)
	e.service("web", "") // the root Service, which Validate requires
	e.create(traffic.TrafficSplitGVR, `
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: web}
spec:
  service: web
  backends:
  - {service: web-stable, weight: 100}
  - {service: web-canary, weight: 0}
`)
	r := traffic.NewSMITrafficSplit(e.clients, e.key("web"), "web", stable, canary)
	headers, mirror := traffic.Supports(r)
	assert.False(t, headers)
	assert.False(t, mirror)

	require.NoError(t, r.Validate(e.ctx))
	missing := traffic.NewSMITrafficSplit(e.clients, e.key("nope"), "web", stable, canary)
	requireInvalid(t, missing.Validate(e.ctx), "smiTrafficSplit.trafficSplit")

	e.checkWeights(r, func(w int32) {
		backends, _, err := unstructured.NestedSlice(e.get(traffic.TrafficSplitGVR, "web").Object, "spec", "backends")
		require.NoError(t, err)
		assert.Equal(t, []any{
			map[string]any{"service": stable, "weight": int64(100 - w)},
			map[string]any{"service": canary, "weight": int64(w)},
		}, backends)
	})
	require.NoError(t, r.Validate(e.ctx), "the TrafficSplit is valid after all the writes")
}

func TestNGINXIngress(t *testing.T) {
	e := newEnv(t)
	prefix := networkingv1.PathTypePrefix
	path := func(p, svc string) networkingv1.HTTPIngressPath {
		return networkingv1.HTTPIngressPath{Path: p, PathType: &prefix, Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}}}
	}
	// Two primaries: one with spec.ingressClassName, one with the older
	// class annotation.
	for _, primary := range []*networkingv1.Ingress{
		{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: networkingv1.IngressSpec{IngressClassName: ptr.To("nginx"),
			Rules: []networkingv1.IngressRule{{Host: "web.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{path("/", stable), path("/admin", "other")}}}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Annotations: map[string]string{"kubernetes.io/ingress.class": "nginx"}},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "legacy.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{path("/", stable)}}}}}}},
	} {
		t.Logf("primary Ingress %s", primary.Name)
		ingresses := e.clients.Kube.NetworkingV1().Ingresses(e.ns)
		created, err := ingresses.Create(e.ctx, primary, metav1.CreateOptions{})
		require.NoError(t, err)
		r := traffic.NewNGINXIngress(e.clients, e.key(primary.Name), canary)
		r.StableService = stable
		headers, mirror := traffic.Supports(r)
		assert.True(t, headers)
		assert.False(t, mirror)

		require.NoError(t, r.Validate(e.ctx))
		missing := traffic.NewNGINXIngress(e.clients, e.key("nope"), canary)
		requireInvalid(t, missing.Validate(e.ctx), "nginxIngress.ingress")
		got, err := r.Weight(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, int32(0), got, "no canary Ingress yet")

		readCanary := func() *networkingv1.Ingress {
			t.Helper()
			c, err := ingresses.Get(e.ctx, r.CanaryIngress(), metav1.GetOptions{})
			require.NoError(t, err)
			return c
		}
		e.checkWeights(r, func(w int32) {
			c := readCanary()
			assert.Equal(t, "true", c.Annotations[traffic.NGINXCanary])
			assert.Equal(t, fmt.Sprint(w), c.Annotations[traffic.NGINXCanaryWeight])
			assert.Equal(t, strategy.ManagedBy, c.Labels[strategy.LabelManagedBy])
			require.Len(t, c.OwnerReferences, 1)
			assert.Equal(t, created.UID, c.OwnerReferences[0].UID)
			assert.Equal(t, primary.Spec.IngressClassName, c.Spec.IngressClassName)
			assert.Equal(t, primary.Annotations["kubernetes.io/ingress.class"], c.Annotations["kubernetes.io/ingress.class"])
			require.Len(t, c.Spec.Rules, 1)
			assert.Equal(t, primary.Spec.Rules[0].Host, c.Spec.Rules[0].Host)
			require.Len(t, c.Spec.Rules[0].HTTP.Paths, 1, "only the path to the stable Service")
			assert.Equal(t, "/", c.Spec.Rules[0].HTTP.Paths[0].Path)
			assert.Equal(t, canary, c.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name)
		})

		// Header routes.
		require.NoError(t, r.SetHeaderRoute(e.ctx, "beta", []traffic.HeaderMatch{{Name: "X-Canary", Value: "yes"}}))
		c := readCanary()
		assert.Equal(t, "beta", c.Annotations[traffic.AnnotationHeaderRoute])
		assert.Equal(t, "X-Canary", c.Annotations[traffic.NGINXCanaryByHeader])
		assert.Equal(t, "yes", c.Annotations[traffic.NGINXCanaryByHeaderValue])
		require.NoError(t, r.SetHeaderRoute(e.ctx, "beta", []traffic.HeaderMatch{{Name: "X-User", Value: "qa-", Type: traffic.HeaderPrefix}}))
		c = readCanary()
		assert.Equal(t, "X-User", c.Annotations[traffic.NGINXCanaryByHeader])
		assert.Equal(t, "^(?:qa-.*)$", c.Annotations[traffic.NGINXCanaryByHeaderPattern])
		assert.NotContains(t, c.Annotations, traffic.NGINXCanaryByHeaderValue)
		got, err = r.Weight(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, int32(100), got, "a header route keeps the weight")
		require.NoError(t, r.RemoveHeaderRoutes(e.ctx))
		c = readCanary()
		for _, k := range []string{traffic.AnnotationHeaderRoute, traffic.NGINXCanaryByHeader, traffic.NGINXCanaryByHeaderValue, traffic.NGINXCanaryByHeaderPattern} {
			assert.NotContains(t, c.Annotations, k)
		}
		assert.Equal(t, "100", c.Annotations[traffic.NGINXCanaryWeight])
		e.noWarnings("header routes")

		// Remove.
		require.NoError(t, r.Remove(e.ctx))
		_, err = ingresses.Get(e.ctx, r.CanaryIngress(), metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "the canary Ingress is deleted: %v", err)
		got, err = r.Weight(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, int32(0), got)
		require.NoError(t, r.Validate(e.ctx), "the primary is valid after all the writes")
	}
}

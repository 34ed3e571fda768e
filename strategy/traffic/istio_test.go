package traffic_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/routertest"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// A VirtualService whose first route belongs to another app and whose
// second and third split the app's traffic. (The fake routes by headers
// only, so the routes match on headers.)
const namedRoutes = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: named, namespace: shop}
spec:
  hosts: [web.example.com]
  http:
  - name: admin
    match: [{headers: {x-admin: {exact: "1"}}}]
    route: [{destination: {host: other}}]
  - name: api
    match: [{headers: {x-team: {prefix: a}}}, {headers: {x-tenant: {exact: acme}}}]
    route:
    - destination: {host: web-stable.shop, port: {number: 80}}
      weight: 100
    - destination: {host: web-canary.shop, port: {number: 80}}
      weight: 0
  - name: rest
    route:
    - destination: {host: web-stable}
      weight: 100
    - destination: {host: web-canary}
      weight: 0
`

func httpNames(t *testing.T, e *env, name string) []string {
	t.Helper()
	routes, _, err := unstructured.NestedSlice(e.get(traffic.VirtualServiceGVR, name).Object, "spec", "http")
	require.NoError(t, err)
	var out []string
	for _, r := range routes {
		out = append(out, r.(map[string]any)["name"].(string))
	}
	return out
}

func TestIstioNamedRoutes(t *testing.T) {
	e := newEnv(t, routertest.IstioCRD)
	e.create(traffic.VirtualServiceGVR, namedRoutes)
	entry := fake.Entry{Kind: fake.EntryVirtualService, Namespace: ns, Name: "named"}

	only := traffic.NewIstioVirtualService(e.cl, key("named"), []string{"rest"}, stable, canary)
	require.NoError(t, only.Validate(e.ctx))
	require.NoError(t, only.SetWeight(e.ctx, 40))
	e.assertSplit(entry, nil, 40, "the named route")
	e.assertSplit(entry, map[string]string{"x-tenant": "acme"}, 0, "a route not named is not split")

	all := traffic.NewIstioVirtualService(e.cl, key("named"), nil, stable, canary)
	_, err := all.Weight(e.ctx)
	assert.ErrorContains(t, err, "different canary weights")
	checkWeights(t, e, all, entry)
	require.NoError(t, all.SetWeight(e.ctx, 20))
	e.assertSplit(entry, map[string]string{"x-tenant": "acme"}, 20, "every route that sends to the Services")

	require.NoError(t, all.SetHeaderRoute(e.ctx, "beta", []traffic.HeaderMatch{{Name: "X-Canary", Value: "yes"}}))
	assert.Equal(t, []string{"admin", "switchyard-header.beta.0", "api", "switchyard-header.beta.1", "rest"}, httpNames(t, e, "named"),
		"each header route just before its route, after another app's")
	e.assertSplit(entry, map[string]string{"x-canary": "yes"}, 100, "with the header")
	e.assertSplit(entry, map[string]string{"x-canary": "yes", "x-tenant": "acme"}, 100, "with the header, on the api route")
	e.assertSplit(entry, map[string]string{"x-tenant": "acme"}, 20, "without the header")
	s := e.share(entry, map[string]string{"x-canary": "yes", "x-admin": "1"})
	assert.Equal(t, 1.0, s.Unserved, "another app's earlier route still wins (other has no pods): %v", s)
	u := e.get(traffic.VirtualServiceGVR, "named")
	api, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	matches := api[1].(map[string]any)["match"].([]any)
	require.Len(t, matches, 2, "the api route's matches, each with the header")
	assert.Contains(t, matches[0].(map[string]any)["headers"], "x-team")
	assert.Contains(t, matches[0].(map[string]any)["headers"], "x-canary")
	assert.Contains(t, matches[1].(map[string]any)["headers"], "x-tenant")
	assert.Contains(t, matches[1].(map[string]any)["headers"], "x-canary")

	require.NoError(t, all.RemoveHeaderRoutes(e.ctx))
	assert.Equal(t, []string{"admin", "api", "rest"}, httpNames(t, e, "named"))

	missing := traffic.NewIstioVirtualService(e.cl, key("named"), []string{"rest", "nope"}, stable, canary)
	requireInvalid(t, missing.Validate(e.ctx), "istioVirtualService.routes[1]")
	assert.ErrorContains(t, missing.SetWeight(e.ctx, 10), `no http route named "nope"`)
	notSplit := traffic.NewIstioVirtualService(e.cl, key("named"), []string{"admin"}, stable, canary)
	requireInvalid(t, notSplit.Validate(e.ctx), "istioVirtualService.virtualService.spec.http[0].route")
}

func TestIstioKeepsAForeignMirror(t *testing.T) {
	e := newEnv(t, routertest.IstioCRD)
	e.create(traffic.VirtualServiceGVR, `{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: mirrored},
		spec: {http: [{route: [{destination: {host: web-stable}, weight: 100}, {destination: {host: web-canary}, weight: 0}],
			mirror: {host: web}, mirrorPercentage: {value: 5}}]}}`)
	r := traffic.NewIstioVirtualService(e.cl, key("mirrored"), nil, stable, canary)
	require.NoError(t, r.Validate(e.ctx))
	assert.ErrorContains(t, r.SetMirror(e.ctx, "shadow", 50), "already mirrors")
	require.NoError(t, r.RemoveMirrors(e.ctx))
	s := e.share(fake.Entry{Kind: fake.EntryVirtualService, Namespace: ns, Name: "mirrored"}, nil)
	assert.InDelta(t, 0.05, s.Mirror["v1"]+s.Mirror["v2"], 1e-9, "a mirror to another Service stays: %v", s.Mirror)
}

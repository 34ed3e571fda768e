package traffic_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/routertest"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// A route with two weighted rules, one for another app, and a field this
// module's Gateway API types do not know.
const multiRuleRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: multi, namespace: shop}
spec:
  parentRefs: [{name: gateway}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs:
    - {name: web-stable, port: 80}
    - {name: web-canary, port: 80, weight: 0}
    vendorExtension: keep-me
  - matches: [{path: {type: PathPrefix, value: /admin}}]
    backendRefs: [{name: other, port: 80}]
  - backendRefs:
    - {name: web-canary, kind: Service, port: 80, weight: 0}
    - {name: web-stable, group: "", port: 80, weight: 1}
`

func gatewayRules(t *testing.T, u *unstructured.Unstructured) []gatewayv1.HTTPRouteRule {
	t.Helper()
	var route gatewayv1.HTTPRoute
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &route))
	return route.Spec.Rules
}

func TestGatewayMultipleRules(t *testing.T) {
	e := newEnv(t, routertest.GatewayCRD)
	e.create(traffic.HTTPRouteGVR, multiRuleRoute)
	r := traffic.NewGatewayHTTPRoute(e.cl, key("multi"), stable, canary)
	require.NoError(t, r.Validate(e.ctx))
	entry := fake.Entry{Kind: fake.EntryHTTPRoute, Namespace: ns, Name: "multi"}
	checkWeights(t, e, r, entry)

	require.NoError(t, r.SetWeight(e.ctx, 30))
	u := e.get(traffic.HTTPRouteGVR, "multi")
	rules := gatewayRules(t, u)
	for _, i := range []int{0, 2} {
		for _, b := range rules[i].BackendRefs {
			want := int32(70)
			if b.Name == canary {
				want = 30
			}
			assert.Equal(t, want, *b.Weight, "rule %d backend %s", i, b.Name)
		}
	}
	assert.Nil(t, rules[1].BackendRefs[0].Weight, "another app's rule is not touched")
	raw, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	assert.Equal(t, "keep-me", raw[0].(map[string]any)["vendorExtension"], "unknown fields are kept")

	require.NoError(t, r.SetHeaderRoute(e.ctx, "beta", []traffic.HeaderMatch{{Name: "X-Canary", Value: "yes"}}))
	rules = gatewayRules(t, e.get(traffic.HTTPRouteGVR, "multi"))
	require.Len(t, rules, 5, "one header rule per weighted rule, first")
	assert.Equal(t, gatewayv1.SectionName("switchyard-header.beta.0"), *rules[0].Name)
	assert.Equal(t, gatewayv1.SectionName("switchyard-header.beta.1"), *rules[1].Name)
	assert.Equal(t, "/api", *rules[0].Matches[0].Path.Value, "the header rule keeps its rule's path match")
	assert.Equal(t, gatewayv1.HTTPHeaderName("X-Canary"), rules[0].Matches[0].Headers[0].Name)
	require.Len(t, rules[0].BackendRefs, 1)
	assert.Equal(t, gatewayv1.ObjectName(canary), rules[0].BackendRefs[0].Name)
	e.assertSplit(entry, map[string]string{"X-Canary": "yes"}, 100, "with the header")

	require.NoError(t, r.SetMirror(e.ctx, "shadow", 20))
	rules = gatewayRules(t, e.get(traffic.HTTPRouteGVR, "multi"))
	for _, i := range []int{2, 4} {
		require.Len(t, rules[i].Filters, 1, "rule %d", i)
		assert.Equal(t, int32(20), *rules[i].Filters[0].RequestMirror.Percent)
		assert.Equal(t, gatewayv1.ObjectName(canary), rules[i].Filters[0].RequestMirror.BackendRef.Name)
	}
	assert.Empty(t, rules[0].Filters, "header rules are not mirrored")
	assert.Empty(t, rules[3].Filters, "another app's rule is not mirrored")

	require.NoError(t, r.RemoveHeaderRoutes(e.ctx))
	require.NoError(t, r.RemoveMirrors(e.ctx))
	rules = gatewayRules(t, e.get(traffic.HTTPRouteGVR, "multi"))
	require.Len(t, rules, 3)
	for _, rule := range rules {
		assert.Empty(t, rule.Filters)
	}
}

func TestGatewayRulesThatCannotBeSplit(t *testing.T) {
	e := newEnv(t, routertest.GatewayCRD)
	e.create(traffic.HTTPRouteGVR, `{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: mixed},
		spec: {rules: [
			{backendRefs: [{name: web-stable, port: 80}, {name: web-canary, port: 80}, {name: other, port: 80}]},
			{backendRefs: [{name: web-stable, port: 80}]}]}}`)
	r := traffic.NewGatewayHTTPRoute(e.cl, key("mixed"), stable, canary)
	err := r.Validate(e.ctx)
	requireInvalid(t, err, "gatewayHTTPRoute.route.spec.rules[0].backendRefs")
	requireInvalid(t, err, "gatewayHTTPRoute.route.spec.rules[1].backendRefs")
	assert.ErrorContains(t, r.SetWeight(e.ctx, 10), "spec.rules[0]")

	missingSvc := traffic.NewGatewayHTTPRoute(e.cl, key("mixed"), "nope", canary)
	requireInvalid(t, missingSvc.Validate(e.ctx), "gatewayHTTPRoute.stableService")
}

func TestGatewayWeightDisagreement(t *testing.T) {
	e := newEnv(t, routertest.GatewayCRD)
	e.create(traffic.HTTPRouteGVR, `{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: drift},
		spec: {rules: [
			{backendRefs: [{name: web-stable, port: 80, weight: 90}, {name: web-canary, port: 80, weight: 10}]},
			{backendRefs: [{name: web-stable, port: 80, weight: 1}, {name: web-canary, port: 80, weight: 1}]}]}}`)
	r := traffic.NewGatewayHTTPRoute(e.cl, key("drift"), stable, canary)
	_, err := r.Weight(e.ctx)
	assert.ErrorContains(t, err, "different canary weights")
	require.NoError(t, r.SetWeight(e.ctx, 50), "SetWeight repairs the drift")
	got, err := r.Weight(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, int32(50), got)
}

// TestGatewaySetWeightWritesWithoutReading: a weight change starts from the
// route as the router last wrote it and checks the weight on the update's
// answer, so it costs one request; a route changed by someone else since
// is read again, whether the change conflicts or would hide the write.
func TestGatewaySetWeightWritesWithoutReading(t *testing.T) {
	e := newEnv(t, routertest.GatewayCRD)
	e.create(traffic.HTTPRouteGVR, multiRuleRoute)
	r := traffic.NewGatewayHTTPRoute(e.cl, key("multi"), stable, canary)
	require.NoError(t, r.SetWeight(e.ctx, 10))

	e.c.ResetRequests()
	require.NoError(t, r.SetWeight(e.ctx, 30))
	reqs := e.c.Requests()
	assert.Equal(t, 1, reqs.Total(), "one write, no read: %s", reqs)
	w, err := r.Weight(e.ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 30, w)

	// Someone sets the weight back to 0: the router's copy says 30, so
	// asking for 30 again must read and write.
	other := traffic.NewGatewayHTTPRoute(e.cl, key("multi"), stable, canary)
	require.NoError(t, other.SetWeight(e.ctx, 0))
	require.NoError(t, r.SetWeight(e.ctx, 30))
	w, err = r.Weight(e.ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 30, w, "the change made meanwhile is not taken for the router's own")

	// Someone changes it to another weight: the write conflicts, and the
	// router reads and writes again.
	require.NoError(t, other.SetWeight(e.ctx, 70))
	require.NoError(t, r.SetWeight(e.ctx, 50))
	w, err = r.Weight(e.ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 50, w)
}

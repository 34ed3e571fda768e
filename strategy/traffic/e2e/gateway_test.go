package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// httpRoute has two weighted rules, one with a header match and a filter
// of its own and one without matches (the API server defaults them), and a
// rule of another app.
const httpRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gateway}]
  hostnames: [web.example.com]
  rules:
  - name: api
    matches:
    - path: {type: PathPrefix, value: /api}
      method: GET
      headers: [{name: X-Tenant, value: acme}]
      queryParams: [{name: debug, value: "1"}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {add: [{name: X-Via, value: gateway}]}
    backendRefs:
    - {name: web-stable, port: 80}
    - {name: web-canary, port: 80, weight: 0}
  - matches: [{path: {type: PathPrefix, value: /admin}}]
    backendRefs: [{name: other, port: 80}]
  - backendRefs:
    - {name: web-canary, kind: Service, port: 80, weight: 0}
    - {name: web-stable, group: "", port: 80, weight: 1}
`

// weightedRules are the indexes of httpRoute's weighted rules.
var weightedRules = []int{0, 2}

func routeOf(t *testing.T, u *unstructured.Unstructured) gatewayv1.HTTPRoute {
	t.Helper()
	var route gatewayv1.HTTPRoute
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &route))
	return route
}

func ruleName(r gatewayv1.HTTPRouteRule) string {
	if r.Name == nil {
		return ""
	}
	return string(*r.Name)
}

func mirrorFilters(r gatewayv1.HTTPRouteRule) []gatewayv1.HTTPRouteFilter {
	var out []gatewayv1.HTTPRouteFilter
	for _, f := range r.Filters {
		if f.Type == gatewayv1.HTTPRouteFilterRequestMirror {
			out = append(out, f)
		}
	}
	return out
}

func TestGatewayHTTPRoute(t *testing.T) {
	e := newEnv(t)
	created := e.create(traffic.HTTPRouteGVR, httpRoute)
	// The API server defaults what the fake does not: rule 2 gets a
	// PathPrefix / match, header matches type Exact, backendRefs weight 1.
	defaulted := routeOf(t, created)
	require.Len(t, defaulted.Spec.Rules, 3)
	require.Len(t, defaulted.Spec.Rules[2].Matches, 1, "the API server defaults a rule's matches")
	assert.Equal(t, "/", *defaulted.Spec.Rules[2].Matches[0].Path.Value)

	r := traffic.NewGatewayHTTPRoute(e.clients, e.key("web"), stable, canary)
	headers, mirror := traffic.Supports(r)
	assert.True(t, headers)
	assert.True(t, mirror)

	// Validate.
	require.NoError(t, r.Validate(e.ctx))
	missing := traffic.NewGatewayHTTPRoute(e.clients, e.key("nope"), stable, canary)
	requireInvalid(t, missing.Validate(e.ctx), "gatewayHTTPRoute.route")
	noService := traffic.NewGatewayHTTPRoute(e.clients, e.key("web"), stable, "web-nope")
	requireInvalid(t, noService.Validate(e.ctx), "gatewayHTTPRoute.canaryService")

	// SetWeight.
	e.checkWeights(r, func(w int32) {
		route := routeOf(t, e.get(traffic.HTTPRouteGVR, "web"))
		require.Len(t, route.Spec.Rules, 3)
		for _, i := range weightedRules {
			for _, b := range route.Spec.Rules[i].BackendRefs {
				want := 100 - w
				if b.Name == canary {
					want = w
				}
				require.NotNil(t, b.Weight, "rule %d backend %s", i, b.Name)
				assert.Equal(t, want, *b.Weight, "rule %d backend %s", i, b.Name)
			}
		}
		// The API server defaults weight to 1, which the fake does not.
		assert.Equal(t, defaulted.Spec.Rules[1], route.Spec.Rules[1], "another app's rule is not touched")
	})

	// Header routes.
	{
		require.NoError(t, r.SetWeight(e.ctx, 25))
		require.NoError(t, r.SetHeaderRoute(e.ctx, "beta", []traffic.HeaderMatch{
			{Name: "X-Canary", Value: "yes"},
			{Name: "X-User", Value: "qa-", Type: traffic.HeaderPrefix},
			{Name: "X-Version", Value: "v[0-9]+", Type: traffic.HeaderRegularExpression},
		}))
		e.noWarnings("SetHeaderRoute")
		route := routeOf(t, e.get(traffic.HTTPRouteGVR, "web"))
		require.Len(t, route.Spec.Rules, 5, "one header rule per weighted rule, first")
		for k, base := range []int{2 + weightedRules[0], 2 + weightedRules[1]} {
			hr := route.Spec.Rules[k]
			assert.Equal(t, fmt.Sprintf("switchyard-header.beta.%d", k), ruleName(hr))
			require.Len(t, hr.BackendRefs, 1)
			assert.Equal(t, gatewayv1.ObjectName(canary), hr.BackendRefs[0].Name)
			require.Len(t, hr.Matches, len(route.Spec.Rules[base].Matches))
			m := hr.Matches[0]
			assert.Equal(t, route.Spec.Rules[base].Matches[0].Path, m.Path, "the header rule keeps its rule's path")
			byName := map[string]gatewayv1.HTTPHeaderMatch{}
			for _, h := range m.Headers {
				byName[string(h.Name)] = h
			}
			assert.Equal(t, gatewayv1.HeaderMatchExact, ptr.Deref(byName["X-Canary"].Type, ""))
			assert.Equal(t, "yes", byName["X-Canary"].Value)
			assert.Equal(t, gatewayv1.HeaderMatchRegularExpression, ptr.Deref(byName["X-User"].Type, ""))
			assert.Equal(t, "qa-.*", byName["X-User"].Value)
			assert.Equal(t, gatewayv1.HeaderMatchRegularExpression, ptr.Deref(byName["X-Version"].Type, ""))
			assert.Equal(t, "v[0-9]+", byName["X-Version"].Value)
		}
		// The copy of rule "api" keeps its method, query and own header.
		api := route.Spec.Rules[0].Matches[0]
		assert.Equal(t, gatewayv1.HTTPMethodGet, ptr.Deref(api.Method, ""))
		assert.Len(t, api.QueryParams, 1)
		assert.Len(t, api.Headers, 4, "X-Tenant and the three header matches")
		assert.Len(t, route.Spec.Rules[0].Filters, 1, "the rule's own filter is copied")

		got, err := r.Weight(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, int32(25), got, "header rules do not count as weighted rules")
		require.NoError(t, r.SetWeight(e.ctx, 75), "SetWeight with header rules")
		got, err = r.Weight(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, int32(75), got)

		// Setting the same name replaces the route.
		require.NoError(t, r.SetHeaderRoute(e.ctx, "beta", []traffic.HeaderMatch{{Name: "X-Canary", Value: "always"}}))
		route = routeOf(t, e.get(traffic.HTTPRouteGVR, "web"))
		require.Len(t, route.Spec.Rules, 5, "the header route was replaced")
		assert.Len(t, route.Spec.Rules[1].Matches[0].Headers, 1)
		assert.Equal(t, "always", route.Spec.Rules[1].Matches[0].Headers[0].Value)
		e.noWarnings("replacing the header route")

		require.NoError(t, r.RemoveHeaderRoutes(e.ctx))
		route = routeOf(t, e.get(traffic.HTTPRouteGVR, "web"))
		require.Len(t, route.Spec.Rules, 3)
		for _, rule := range route.Spec.Rules {
			assert.False(t, strings.HasPrefix(ruleName(rule), "switchyard-header."), "rule %q", ruleName(rule))
		}
		assert.Equal(t, "api", ruleName(route.Spec.Rules[0]))
		e.noWarnings("RemoveHeaderRoutes")
	}

	// Mirrors.
	{
		for _, p := range []int32{20, 35, 100, 0} {
			require.NoError(t, r.SetMirror(e.ctx, "shadow", p), "SetMirror(%d)", p)
			e.noWarnings(fmt.Sprintf("SetMirror(%d)", p))
			route := routeOf(t, e.get(traffic.HTTPRouteGVR, "web"))
			for _, i := range weightedRules {
				ms := mirrorFilters(route.Spec.Rules[i])
				require.Len(t, ms, 1, "rule %d has one mirror", i)
				require.NotNil(t, ms[0].RequestMirror.Percent, "rule %d: the API server kept the percent", i)
				assert.Equal(t, p, *ms[0].RequestMirror.Percent, "rule %d", i)
				assert.Equal(t, gatewayv1.ObjectName(canary), ms[0].RequestMirror.BackendRef.Name)
			}
			assert.Empty(t, route.Spec.Rules[1].Filters, "another app's rule is not mirrored")
		}
		route := routeOf(t, e.get(traffic.HTTPRouteGVR, "web"))
		assert.Len(t, route.Spec.Rules[0].Filters, 2, "the rule's own filter is kept next to the mirror")

		// A header route added while mirroring does not mirror.
		require.NoError(t, r.SetHeaderRoute(e.ctx, "beta", []traffic.HeaderMatch{{Name: "X-Canary", Value: "yes"}}))
		route = routeOf(t, e.get(traffic.HTTPRouteGVR, "web"))
		require.Len(t, route.Spec.Rules, 5)
		assert.Empty(t, mirrorFilters(route.Spec.Rules[0]))
		assert.Empty(t, mirrorFilters(route.Spec.Rules[1]))
		require.NoError(t, r.RemoveHeaderRoutes(e.ctx))

		e.requests.reset()
		require.NoError(t, r.SetMirror(e.ctx, "shadow", 0))
		if writes, _ := e.requests.writes(); len(writes) > 0 {
			t.Logf("note: SetMirror with the mirror already set wrote again: %v", writes)
		}

		require.NoError(t, r.RemoveMirrors(e.ctx))
		e.noWarnings("RemoveMirrors")
		route = routeOf(t, e.get(traffic.HTTPRouteGVR, "web"))
		for i, rule := range route.Spec.Rules {
			assert.Empty(t, mirrorFilters(rule), "rule %d", i)
		}
		require.Len(t, route.Spec.Rules[0].Filters, 1, "the rule's own filter is kept")
		assert.Equal(t, gatewayv1.HTTPRouteFilterRequestHeaderModifier, route.Spec.Rules[0].Filters[0].Type)
		assert.Empty(t, route.Spec.Rules[2].Filters)
	}

	require.NoError(t, r.Validate(e.ctx), "the route is valid after all the writes")
}

// TestGatewaySchemaIsEnforced shows the point of these tests: unlike the
// fake cluster, the API server checks HTTPRoutes against the CRD's schema
// and CEL rules, and warns about the fields it drops.
func TestGatewaySchemaIsEnforced(t *testing.T) {
	e := newEnv(t)
	for name, doc := range map[string]string{
		"negative weight": `{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: bad-weight},
			spec: {rules: [{backendRefs: [{name: web-stable, port: 80, weight: -1}]}]}}`,
		"rule name": `{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: bad-name},
			spec: {rules: [{name: Not_A_Name, backendRefs: [{name: web-stable, port: 80}]}]}}`,
		"Service without port": `{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: bad-port},
			spec: {rules: [{backendRefs: [{name: web-stable}]}]}}`,
		"mirror percent and fraction": `{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: bad-mirror},
			spec: {rules: [{filters: [{type: RequestMirror, requestMirror: {backendRef: {name: web-canary, port: 80}, percent: 5, fraction: {numerator: 1}}}],
			backendRefs: [{name: web-stable, port: 80}]}]}}`,
	} {
		_, err := e.tryCreate(traffic.HTTPRouteGVR, doc)
		assert.True(t, apierrors.IsInvalid(err), "%s: want Invalid, got %v", name, err)
	}
	e.warnings.take()
	u, err := e.tryCreate(traffic.HTTPRouteGVR, `{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: unknown},
		spec: {rules: [{backendRefs: [{name: web-stable, port: 80}], vendorExtension: dropped}]}}`)
	require.NoError(t, err, "an unknown field is dropped, not rejected")
	warnings := e.warnings.take()
	assert.True(t, slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "unknown field") }),
		"the API server warns about the unknown field it drops: %q", warnings)
	raw, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	require.Len(t, raw, 1)
	assert.NotContains(t, raw[0], "vendorExtension", "the API server pruned the unknown field")
}

package traffic

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/switchyard-dev/switchyard/strategy"
)

// HTTPRouteGVR is the resource GatewayHTTPRoute reads and writes.
var HTTPRouteGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// GatewayHTTPRoute routes with a Gateway API HTTPRoute
// (gateway.networking.k8s.io/v1).
//
// Its weighted rules are the rules that reference the stable or the canary
// Service in their backendRefs; each must reference both, once each, and
// nothing else. SetWeight sets the two backendRefs' weights to 100-percent
// and percent in every weighted rule. A header route adds, first in the
// rules, one rule per weighted rule, named "switchyard-header.<name>.<i>",
// with the weighted rule's matches (path, method, query) plus the headers,
// its filters, and the canary as the only backend. Prefix header matches
// are written as RegularExpression, which the Gateway API has instead. A
// mirror is a RequestMirror filter (with percent) to the canary on every
// weighted rule. Only the fields named change: fields of the stored rules
// this module's types do not know are kept.
//
// Writes are Updates carrying the resourceVersion read, retried at once on
// conflict. The API caps a route at 16 rules: each header route adds as
// many rules as there are weighted rules.
type GatewayHTTPRoute struct {
	// Clients reach the cluster: Kube reads the Services, Dynamic the
	// HTTPRoute.
	Clients strategy.Clients
	// Route names the HTTPRoute. The Services are in its namespace.
	Route types.NamespacedName
	// StableService is the Service that selects the stable slot.
	StableService string
	// CanaryService is the Service that selects the canary slot.
	CanaryService string
	// AllowCrossNamespace lets the router write outside the app's
	// namespace; see the option of that name.
	AllowCrossNamespace bool

	last lastWritten // the route as last written (see customObject.update)
}

var (
	_ HeaderRouter = (*GatewayHTTPRoute)(nil)
	_ MirrorRouter = (*GatewayHTTPRoute)(nil)
)

// NewGatewayHTTPRoute returns a router for the HTTPRoute route that splits
// traffic between the Services stable and canary in route's namespace,
// which must be the app's unless opts hold AllowCrossNamespace.
func NewGatewayHTTPRoute(c strategy.Clients, route types.NamespacedName, stable, canary string, opts ...Option) *GatewayHTTPRoute {
	o := newOptions(opts)
	return &GatewayHTTPRoute{Clients: c, Route: route, StableService: stable, CanaryService: canary, AllowCrossNamespace: o.crossNamespace}
}

// Name implements Router.
func (g *GatewayHTTPRoute) Name() string { return "HTTPRoute " + g.Route.String() }

func (g *GatewayHTTPRoute) object() customObject {
	return customObject{dyn: g.Clients.Dynamic, gvr: HTTPRouteGVR, kind: "HTTPRoute", key: g.Route, last: &g.last}
}

// gwRules is an HTTPRoute's rules as stored and as typed values.
type gwRules struct {
	raw   []any
	typed []gatewayv1.HTTPRouteRule
}

func (g *GatewayHTTPRoute) rules(u *unstructured.Unstructured) (gwRules, error) {
	raw, _, err := unstructured.NestedSlice(u.Object, "spec", "rules")
	if err != nil {
		return gwRules{}, fmt.Errorf("%s: spec.rules: %w", g.Name(), err)
	}
	rs := gwRules{raw: raw, typed: make([]gatewayv1.HTTPRouteRule, len(raw))}
	for i, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			return gwRules{}, fmt.Errorf("%s: spec.rules[%d] is not an object", g.Name(), i)
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &rs.typed[i]); err != nil {
			return gwRules{}, fmt.Errorf("%s: spec.rules[%d]: %w", g.Name(), i, err)
		}
	}
	return rs, nil
}

// isService reports whether ref points at the Service name in the route's
// namespace.
func (g *GatewayHTTPRoute) isService(ref gatewayv1.BackendObjectReference, name string) bool {
	return string(ref.Name) == name &&
		(ref.Group == nil || *ref.Group == "") &&
		(ref.Kind == nil || *ref.Kind == "Service") &&
		(ref.Namespace == nil || string(*ref.Namespace) == g.Route.Namespace)
}

func isHeaderRule(r gatewayv1.HTTPRouteRule) bool {
	if r.Name == nil {
		return false
	}
	_, ok := headerRouteOf(string(*r.Name))
	return ok
}

// weighted returns the indexes of the weighted rules.
func (g *GatewayHTTPRoute) weighted(rs gwRules) []int {
	var out []int
	for i, r := range rs.typed {
		if isHeaderRule(r) {
			continue
		}
		if slices.ContainsFunc(r.BackendRefs, func(b gatewayv1.HTTPBackendRef) bool {
			return g.isService(b.BackendObjectReference, g.StableService) || g.isService(b.BackendObjectReference, g.CanaryService)
		}) {
			out = append(out, i)
		}
	}
	return out
}

// problem says why a weighted rule cannot be split, or "".
func (g *GatewayHTTPRoute) problem(r gatewayv1.HTTPRouteRule) string {
	var stable, canary int
	var others []string
	for _, b := range r.BackendRefs {
		switch {
		case g.isService(b.BackendObjectReference, g.StableService):
			stable++
		case g.isService(b.BackendObjectReference, g.CanaryService):
			canary++
		default:
			others = append(others, string(b.Name))
		}
	}
	switch {
	case stable != 1 || canary != 1:
		return fmt.Sprintf("must reference Service %s and Service %s once each (found %d and %d)", g.StableService, g.CanaryService, stable, canary)
	case len(others) > 0:
		return fmt.Sprintf("must reference no backend but the two Services (also has %s)", strings.Join(others, ", "))
	}
	return ""
}

// splittable returns the weighted rules, or an error if there are none or
// one cannot be split.
func (g *GatewayHTTPRoute) splittable(rs gwRules) ([]int, error) {
	idx := g.weighted(rs)
	if len(idx) == 0 {
		return nil, fmt.Errorf("%s: no rule references Service %s or %s", g.Name(), g.StableService, g.CanaryService)
	}
	for _, i := range idx {
		if p := g.problem(rs.typed[i]); p != "" {
			return nil, fmt.Errorf("%s: spec.rules[%d].backendRefs %s", g.Name(), i, p)
		}
	}
	return idx, nil
}

// Validate implements Router.
func (g *GatewayHTTPRoute) Validate(ctx context.Context) error {
	var v strategy.Validator
	checkServices(ctx, g.Clients.Kube, &v, g.Route.Namespace,
		[]string{"gatewayHTTPRoute.stableService", "gatewayHTTPRoute.canaryService"}, []string{g.StableService, g.CanaryService})
	u, err := g.object().get(ctx)
	if err != nil {
		v.Add("gatewayHTTPRoute.route", g.Route.String(), "%v", err)
		return v.Err()
	}
	rs, err := g.rules(u)
	if err != nil {
		v.Add("gatewayHTTPRoute.route", g.Route.String(), "%v", err)
		return v.Err()
	}
	idx := g.weighted(rs)
	if len(idx) == 0 {
		v.Add("gatewayHTTPRoute.route", g.Route.String(), "no rule references Service %s or %s", g.StableService, g.CanaryService)
	}
	for _, i := range idx {
		if p := g.problem(rs.typed[i]); p != "" {
			v.Add(fmt.Sprintf("gatewayHTTPRoute.route.spec.rules[%d].backendRefs", i), nil, "%s", p)
		}
	}
	return v.Err()
}

// SetWeight implements Router.
func (g *GatewayHTTPRoute) SetWeight(ctx context.Context, percent int32) error {
	if err := checkPercent("percent", percent); err != nil {
		return err
	}
	stored, written, err := g.object().update(ctx, func(u *unstructured.Unstructured) error {
		rs, err := g.rules(u)
		if err != nil {
			return err
		}
		idx, err := g.splittable(rs)
		if err != nil {
			return err
		}
		for _, i := range idx {
			refs := rs.raw[i].(map[string]any)["backendRefs"].([]any)
			for j, b := range rs.typed[i].BackendRefs {
				w := int64(100 - percent)
				if g.isService(b.BackendObjectReference, g.CanaryService) {
					w = int64(percent)
				}
				refs[j].(map[string]any)["weight"] = w
			}
		}
		return unstructured.SetNestedSlice(u.Object, rs.raw, "spec", "rules")
	})
	if err != nil || !written {
		return err
	}
	// The update's answer is the route as stored, after admission
	// (mutating webhooks included): check the weight on it, with no read.
	got, err := g.weightOf(stored)
	if err != nil {
		return fmt.Errorf("verifying the canary weight: %w", err)
	}
	if got != percent {
		return fmt.Errorf("%s carries canary weight %d after setting %d: %w", g.Name(), got, percent, ErrWeightNotTaken)
	}
	return nil
}

// Weight implements Router. It fails when the weighted rules carry
// different weights.
func (g *GatewayHTTPRoute) Weight(ctx context.Context) (int32, error) {
	u, err := g.object().get(ctx)
	if err != nil {
		return 0, err
	}
	return g.weightOf(u)
}

// weightOf is the canary weight route u carries.
func (g *GatewayHTTPRoute) weightOf(u *unstructured.Unstructured) (int32, error) {
	rs, err := g.rules(u)
	if err != nil {
		return 0, err
	}
	idx, err := g.splittable(rs)
	if err != nil {
		return 0, err
	}
	weight := int32(-1)
	for _, i := range idx {
		var stable, canary int64
		for _, b := range rs.typed[i].BackendRefs {
			w := int64(1) // the Gateway API default
			if b.Weight != nil {
				w = int64(max(*b.Weight, 0))
			}
			if g.isService(b.BackendObjectReference, g.CanaryService) {
				canary = w
			} else {
				stable = w
			}
		}
		if stable+canary == 0 {
			return 0, fmt.Errorf("%s: spec.rules[%d] gives both Services weight 0", g.Name(), i)
		}
		p := canaryPercent(stable, canary)
		if weight >= 0 && p != weight {
			return 0, fmt.Errorf("%s: rules carry different canary weights (%d%% and %d%% in spec.rules[%d])", g.Name(), weight, p, i)
		}
		weight = p
	}
	return weight, nil
}

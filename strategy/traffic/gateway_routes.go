package traffic

// Header routes and mirrors of GatewayHTTPRoute.

import (
	"context"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// SetHeaderRoute implements HeaderRouter.
func (g *GatewayHTTPRoute) SetHeaderRoute(ctx context.Context, name string, matches []HeaderMatch) error {
	if err := checkHeaderRoute(name, matches, 0); err != nil {
		return err
	}
	headers := make([]gatewayv1.HTTPHeaderMatch, len(matches))
	for i, m := range matches {
		t, value := gatewayv1.HeaderMatchExact, m.Value
		if m.Type == HeaderPrefix || m.Type == HeaderRegularExpression {
			t, value = gatewayv1.HeaderMatchRegularExpression, fullRegexp(m)
		}
		headers[i] = gatewayv1.HTTPHeaderMatch{Type: &t, Name: gatewayv1.HTTPHeaderName(m.Name), Value: value}
	}
	_, _, err := g.object().update(ctx, func(u *unstructured.Unstructured) error {
		rs, err := g.rules(u)
		if err != nil {
			return err
		}
		rs = rs.without(func(r gatewayv1.HTTPRouteRule) bool {
			n, ok := "", false
			if r.Name != nil {
				n, ok = headerRouteOf(string(*r.Name))
			}
			return ok && n == name
		})
		idx, err := g.splittable(rs)
		if err != nil {
			return err
		}
		var added []any
		for k, i := range idx {
			rule, err := g.headerRule(rs.typed[i], headerRouteName(name, k), headers)
			if err != nil {
				return err
			}
			added = append(added, rule)
		}
		return unstructured.SetNestedSlice(u.Object, append(added, rs.raw...), "spec", "rules")
	})
	return err
}

// headerRule copies weighted rule base into a rule that sends requests
// with headers to the canary.
func (g *GatewayHTTPRoute) headerRule(base gatewayv1.HTTPRouteRule, name string, headers []gatewayv1.HTTPHeaderMatch) (map[string]any, error) {
	r := base.DeepCopy()
	sn := gatewayv1.SectionName(name)
	r.Name = &sn
	if len(r.Matches) == 0 {
		r.Matches = []gatewayv1.HTTPRouteMatch{{}}
	}
	for i := range r.Matches {
		m := &r.Matches[i]
		m.Headers = slices.DeleteFunc(m.Headers, func(h gatewayv1.HTTPHeaderMatch) bool {
			return slices.ContainsFunc(headers, func(n gatewayv1.HTTPHeaderMatch) bool { return strings.EqualFold(string(n.Name), string(h.Name)) })
		})
		m.Headers = append(m.Headers, headers...)
	}
	r.Filters = slices.DeleteFunc(r.Filters, g.isCanaryMirror)
	r.BackendRefs = slices.DeleteFunc(r.BackendRefs, func(b gatewayv1.HTTPBackendRef) bool {
		return !g.isService(b.BackendObjectReference, g.CanaryService)
	})
	r.BackendRefs[0].Weight = nil // the only backend takes everything
	return runtime.DefaultUnstructuredConverter.ToUnstructured(r)
}

// RemoveHeaderRoutes implements HeaderRouter.
func (g *GatewayHTTPRoute) RemoveHeaderRoutes(ctx context.Context) error {
	_, _, err := g.object().update(ctx, func(u *unstructured.Unstructured) error {
		rs, err := g.rules(u)
		if err != nil {
			return err
		}
		return unstructured.SetNestedSlice(u.Object, rs.without(isHeaderRule).raw, "spec", "rules")
	})
	return err
}

func (rs gwRules) without(drop func(gatewayv1.HTTPRouteRule) bool) gwRules {
	var out gwRules
	for i, r := range rs.typed {
		if !drop(r) {
			out.raw = append(out.raw, rs.raw[i])
			out.typed = append(out.typed, r)
		}
	}
	return out
}

func (g *GatewayHTTPRoute) isCanaryMirror(f gatewayv1.HTTPRouteFilter) bool {
	return f.Type == gatewayv1.HTTPRouteFilterRequestMirror && f.RequestMirror != nil &&
		g.isService(f.RequestMirror.BackendRef, g.CanaryService)
}

// SetMirror implements MirrorRouter.
func (g *GatewayHTTPRoute) SetMirror(ctx context.Context, name string, percent int32) error {
	if err := checkMirror(name, percent); err != nil {
		return err
	}
	return g.mirror(ctx, &percent)
}

// RemoveMirrors implements MirrorRouter.
func (g *GatewayHTTPRoute) RemoveMirrors(ctx context.Context) error { return g.mirror(ctx, nil) }

// mirror replaces the RequestMirror filters to the canary on the weighted
// rules with one of percent, or none when percent is nil.
func (g *GatewayHTTPRoute) mirror(ctx context.Context, percent *int32) error {
	_, _, err := g.object().update(ctx, func(u *unstructured.Unstructured) error {
		rs, err := g.rules(u)
		if err != nil {
			return err
		}
		idx := g.weighted(rs)
		if percent != nil {
			if idx, err = g.splittable(rs); err != nil {
				return err
			}
		}
		for _, i := range idx {
			raw := rs.raw[i].(map[string]any)
			var filters []any
			rawFilters, _ := raw["filters"].([]any)
			for j, f := range rs.typed[i].Filters {
				if !g.isCanaryMirror(f) {
					filters = append(filters, rawFilters[j])
				}
			}
			if percent != nil {
				ref := rs.typed[i].BackendRefs[slices.IndexFunc(rs.typed[i].BackendRefs, func(b gatewayv1.HTTPBackendRef) bool {
					return g.isService(b.BackendObjectReference, g.CanaryService)
				})].BackendObjectReference
				f, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&gatewayv1.HTTPRouteFilter{
					Type:          gatewayv1.HTTPRouteFilterRequestMirror,
					RequestMirror: &gatewayv1.HTTPRequestMirrorFilter{BackendRef: ref, Percent: percent},
				})
				if err != nil {
					return err
				}
				filters = append(filters, f)
			}
			if len(filters) == 0 {
				delete(raw, "filters")
			} else {
				raw["filters"] = filters
			}
		}
		return unstructured.SetNestedSlice(u.Object, rs.raw, "spec", "rules")
	})
	return err
}

package traffic

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy"
)

// VirtualServiceGVR is the resource IstioVirtualService reads and writes.
var VirtualServiceGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}

// IstioVirtualService routes with an Istio VirtualService
// (networking.istio.io/v1), read and written as unstructured objects.
//
// Its weighted routes are the http routes named in Routes or, when Routes
// is empty, every http route with a destination whose host is the stable or
// the canary Service ("web", "web.ns", "web.ns.svc", "web.ns.svc.<domain>").
// Each must have exactly two destinations, one per Service. SetWeight sets
// their weights to 100-percent and percent. A header route inserts, just
// before each weighted route, a copy of it named
// "switchyard-header.<name>.<i>" whose matches also require the headers
// (header names lower-cased, as Istio requires) and whose only destination
// is the canary; because Istio takes the first route that matches, the copy
// catches exactly the requests its weighted route would have, with the
// headers. A mirror sets mirror (the canary destination) and
// mirrorPercentage on every weighted route; a route that already mirrors
// elsewhere is an error, not overwritten. Other fields are kept as stored.
//
// Writes are Updates carrying the resourceVersion read, retried at once on
// conflict.
type IstioVirtualService struct {
	// Clients reach the cluster: Kube reads the Services, Dynamic the
	// VirtualService.
	Clients strategy.Clients
	// VirtualService names the VirtualService. The Services are in its
	// namespace.
	VirtualService types.NamespacedName
	// Routes names the http routes to split. Empty means every route that
	// sends to either Service.
	Routes []string
	// StableService is the Service that selects the stable slot.
	StableService string
	// CanaryService is the Service that selects the canary slot.
	CanaryService string
	// AllowCrossNamespace lets the router write outside the app's
	// namespace; see the option of that name.
	AllowCrossNamespace bool
}

var (
	_ HeaderRouter = (*IstioVirtualService)(nil)
	_ MirrorRouter = (*IstioVirtualService)(nil)
)

// NewIstioVirtualService returns a router for the VirtualService vs that
// splits the http routes named routes (all that send to the Services when
// none are named) between the Services stable and canary. vs's namespace
// must be the app's unless opts hold AllowCrossNamespace.
func NewIstioVirtualService(c strategy.Clients, vs types.NamespacedName, routes []string, stable, canary string, opts ...Option) *IstioVirtualService {
	o := newOptions(opts)
	return &IstioVirtualService{Clients: c, VirtualService: vs, Routes: routes, StableService: stable, CanaryService: canary,
		AllowCrossNamespace: o.crossNamespace}
}

// Name implements Router.
func (s *IstioVirtualService) Name() string { return "VirtualService " + s.VirtualService.String() }

func (s *IstioVirtualService) object() customObject {
	return customObject{dyn: s.Clients.Dynamic, gvr: VirtualServiceGVR, kind: "VirtualService", key: s.VirtualService}
}

// httpRoutes returns spec.http as a copy.
func (s *IstioVirtualService) httpRoutes(u *unstructured.Unstructured) ([]map[string]any, error) {
	raw, _, err := unstructured.NestedSlice(u.Object, "spec", "http")
	if err != nil {
		return nil, fmt.Errorf("%s: spec.http: %w", s.Name(), err)
	}
	out := make([]map[string]any, len(raw))
	for i, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: spec.http[%d] is not an object", s.Name(), i)
		}
		out[i] = m
	}
	return out, nil
}

func setHTTPRoutes(u *unstructured.Unstructured, routes []map[string]any) error {
	raw := make([]any, len(routes))
	for i, r := range routes {
		raw[i] = r
	}
	return unstructured.SetNestedSlice(u.Object, raw, "spec", "http")
}

func routeName(r map[string]any) string { n, _ := r["name"].(string); return n }

func destinations(r map[string]any) []map[string]any {
	raw, _ := r["route"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, d := range raw {
		if m, ok := d.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// isService reports whether host names the Service name in the
// VirtualService's namespace.
func (s *IstioVirtualService) isService(host, name string) bool {
	parts := strings.Split(host, ".")
	return parts[0] == name &&
		(len(parts) < 2 || parts[1] == s.VirtualService.Namespace) &&
		(len(parts) < 3 || parts[2] == "svc")
}

func (s *IstioVirtualService) hostOf(d map[string]any) string {
	h, _, _ := unstructured.NestedString(d, "destination", "host")
	return h
}

// weighted returns the indexes of the weighted routes, in order, and the
// indexes in Routes of the named routes that are missing.
func (s *IstioVirtualService) weighted(routes []map[string]any) (idx []int, missing []int) {
	if len(s.Routes) > 0 {
		for k, name := range s.Routes {
			i := slices.IndexFunc(routes, func(r map[string]any) bool { return routeName(r) == name })
			if i < 0 {
				missing = append(missing, k)
				continue
			}
			idx = append(idx, i)
		}
		slices.Sort(idx)
		return idx, missing
	}
	for i, r := range routes {
		if _, ok := headerRouteOf(routeName(r)); ok {
			continue
		}
		if slices.ContainsFunc(destinations(r), func(d map[string]any) bool {
			h := s.hostOf(d)
			return s.isService(h, s.StableService) || s.isService(h, s.CanaryService)
		}) {
			idx = append(idx, i)
		}
	}
	return idx, nil
}

// problem says why a weighted route cannot be split, or "".
func (s *IstioVirtualService) problem(r map[string]any) string {
	var stable, canary int
	var others []string
	for _, d := range destinations(r) {
		switch h := s.hostOf(d); {
		case s.isService(h, s.StableService):
			stable++
		case s.isService(h, s.CanaryService):
			canary++
		default:
			others = append(others, h)
		}
	}
	switch {
	case stable != 1 || canary != 1:
		return fmt.Sprintf("must have one destination per Service %s and %s (found %d and %d)", s.StableService, s.CanaryService, stable, canary)
	case len(others) > 0:
		return fmt.Sprintf("must have no destination but the two Services (also has %s)", strings.Join(others, ", "))
	}
	return ""
}

// splittable returns the weighted routes, or an error if there are none or
// one cannot be split.
func (s *IstioVirtualService) splittable(routes []map[string]any) ([]int, error) {
	idx, missing := s.weighted(routes)
	switch {
	case len(missing) > 0:
		return nil, fmt.Errorf("%s has no http route named %q", s.Name(), s.Routes[missing[0]])
	case len(idx) == 0:
		return nil, fmt.Errorf("%s: no http route sends to Service %s or %s", s.Name(), s.StableService, s.CanaryService)
	}
	for _, i := range idx {
		if p := s.problem(routes[i]); p != "" {
			return nil, fmt.Errorf("%s: spec.http[%d] %s", s.Name(), i, p)
		}
	}
	return idx, nil
}

// Validate implements Router.
func (s *IstioVirtualService) Validate(ctx context.Context) error {
	var v strategy.Validator
	checkServices(ctx, s.Clients.Kube, &v, s.VirtualService.Namespace,
		[]string{"istioVirtualService.stableService", "istioVirtualService.canaryService"}, []string{s.StableService, s.CanaryService})
	u, err := s.object().get(ctx)
	if err != nil {
		v.Add("istioVirtualService.virtualService", s.VirtualService.String(), "%v", err)
		return v.Err()
	}
	routes, err := s.httpRoutes(u)
	if err != nil {
		v.Add("istioVirtualService.virtualService", s.VirtualService.String(), "%v", err)
		return v.Err()
	}
	idx, missing := s.weighted(routes)
	for _, k := range missing {
		v.Add(fmt.Sprintf("istioVirtualService.routes[%d]", k), s.Routes[k], "%s has no http route of that name", s.Name())
	}
	if len(idx) == 0 && len(missing) == 0 {
		v.Add("istioVirtualService.virtualService", s.VirtualService.String(), "no http route sends to Service %s or %s", s.StableService, s.CanaryService)
	}
	for _, i := range idx {
		if p := s.problem(routes[i]); p != "" {
			v.Add(fmt.Sprintf("istioVirtualService.virtualService.spec.http[%d].route", i), routeName(routes[i]), "%s", p)
		}
	}
	return v.Err()
}

// SetWeight implements Router.
func (s *IstioVirtualService) SetWeight(ctx context.Context, percent int32) error {
	if err := checkPercent("percent", percent); err != nil {
		return err
	}
	_, written, err := s.object().update(ctx, func(u *unstructured.Unstructured) error {
		routes, err := s.httpRoutes(u)
		if err != nil {
			return err
		}
		idx, err := s.splittable(routes)
		if err != nil {
			return err
		}
		for _, i := range idx {
			for _, d := range destinations(routes[i]) {
				d["weight"] = int64(100 - percent)
				if s.isService(s.hostOf(d), s.CanaryService) {
					d["weight"] = int64(percent)
				}
			}
		}
		return setHTTPRoutes(u, routes)
	})
	if err != nil || !written {
		return err
	}
	return verifyWeight(ctx, s, s.Name(), percent)
}

// Weight implements Router. It fails when the weighted routes carry
// different weights.
func (s *IstioVirtualService) Weight(ctx context.Context) (int32, error) {
	u, err := s.object().get(ctx)
	if err != nil {
		return 0, err
	}
	routes, err := s.httpRoutes(u)
	if err != nil {
		return 0, err
	}
	idx, err := s.splittable(routes)
	if err != nil {
		return 0, err
	}
	weight := int32(-1)
	for _, i := range idx {
		var stable, canary int64
		for _, d := range destinations(routes[i]) {
			n := asInt(d["weight"]) // unset: 0, as Istio reads it with two destinations
			if s.isService(s.hostOf(d), s.CanaryService) {
				canary = max(n, 0)
			} else {
				stable = max(n, 0)
			}
		}
		if stable+canary == 0 {
			return 0, fmt.Errorf("%s: spec.http[%d] gives both Services weight 0", s.Name(), i)
		}
		p := canaryPercent(stable, canary)
		if weight >= 0 && p != weight {
			return 0, fmt.Errorf("%s: routes carry different canary weights (%d%% and %d%% in spec.http[%d])", s.Name(), weight, p, i)
		}
		weight = p
	}
	return weight, nil
}

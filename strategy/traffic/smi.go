package traffic

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy"
)

// TrafficSplitGVR is the resource SMITrafficSplit reads and writes.
var TrafficSplitGVR = schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"}

// SMITrafficSplit routes with an SMI TrafficSplit (split.smi-spec.io/
// v1alpha2), read and written as an unstructured object. The TrafficSplit
// must exist, with RootService as spec.service and exactly two backends:
// the stable and the canary Service. SetWeight sets their weights to
// 100-percent and percent; other fields are kept as stored. SMI has no
// header routes or mirrors (v1alpha3's matches need HTTPRouteGroups), so
// this router supports neither.
//
// Writes are Updates carrying the resourceVersion read, retried at once on
// conflict.
type SMITrafficSplit struct {
	// Clients reach the cluster: Kube reads the Services, Dynamic the
	// TrafficSplit.
	Clients strategy.Clients
	// TrafficSplit names the TrafficSplit. The Services are in its
	// namespace.
	TrafficSplit types.NamespacedName
	// RootService is the Service clients address, the TrafficSplit's
	// spec.service.
	RootService string
	// StableService is the Service that selects the stable slot.
	StableService string
	// CanaryService is the Service that selects the canary slot.
	CanaryService string
	// AllowCrossNamespace lets the router write outside the app's
	// namespace; see the option of that name.
	AllowCrossNamespace bool
}

var _ Router = (*SMITrafficSplit)(nil)

// NewSMITrafficSplit returns a router for the TrafficSplit ts of root
// Service root that splits traffic between the Services stable and canary.
// ts's namespace must be the app's unless opts hold AllowCrossNamespace.
func NewSMITrafficSplit(c strategy.Clients, ts types.NamespacedName, root, stable, canary string, opts ...Option) *SMITrafficSplit {
	o := newOptions(opts)
	return &SMITrafficSplit{Clients: c, TrafficSplit: ts, RootService: root, StableService: stable, CanaryService: canary,
		AllowCrossNamespace: o.crossNamespace}
}

// Name implements Router.
func (s *SMITrafficSplit) Name() string { return "TrafficSplit " + s.TrafficSplit.String() }

func (s *SMITrafficSplit) object() customObject {
	return customObject{dyn: s.Clients.Dynamic, gvr: TrafficSplitGVR, kind: "TrafficSplit", key: s.TrafficSplit}
}

// backends returns spec.backends as a copy, and the indexes of the stable
// and canary backends; problems lists what is wrong, by field path under
// spec.
func (s *SMITrafficSplit) backends(u *unstructured.Unstructured) (list []any, stable, canary int, problems map[string]string) {
	problems = map[string]string{}
	if root, _, _ := unstructured.NestedString(u.Object, "spec", "service"); root != s.RootService {
		problems["service"] = fmt.Sprintf("is %q, not the root Service %q", root, s.RootService)
	}
	list, _, err := unstructured.NestedSlice(u.Object, "spec", "backends")
	if err != nil {
		problems["backends"] = err.Error()
		return nil, -1, -1, problems
	}
	stable, canary = -1, -1
	var others []string
	count := map[string]int{}
	for i, b := range list {
		name, _, _ := unstructured.NestedString(asMap(b), "service")
		count[name]++
		switch name {
		case s.StableService:
			stable = i
		case s.CanaryService:
			canary = i
		default:
			others = append(others, name)
		}
	}
	switch {
	case count[s.StableService] != 1 || count[s.CanaryService] != 1:
		problems["backends"] = fmt.Sprintf("must list Service %s and Service %s once each (found %d and %d)",
			s.StableService, s.CanaryService, count[s.StableService], count[s.CanaryService])
	case len(others) > 0:
		problems["backends"] = fmt.Sprintf("must list no backend but the two Services (also has %s)", strings.Join(others, ", "))
	}
	return list, stable, canary, problems
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func (s *SMITrafficSplit) splittable(u *unstructured.Unstructured) (list []any, stable, canary int, err error) {
	list, stable, canary, problems := s.backends(u)
	for _, field := range []string{"service", "backends"} {
		if p, ok := problems[field]; ok {
			return nil, 0, 0, fmt.Errorf("%s: spec.%s %s", s.Name(), field, p)
		}
	}
	return list, stable, canary, nil
}

// Validate implements Router.
func (s *SMITrafficSplit) Validate(ctx context.Context) error {
	var v strategy.Validator
	checkServices(ctx, s.Clients.Kube, &v, s.TrafficSplit.Namespace,
		[]string{"smiTrafficSplit.rootService", "smiTrafficSplit.stableService", "smiTrafficSplit.canaryService"},
		[]string{s.RootService, s.StableService, s.CanaryService})
	u, err := s.object().get(ctx)
	if err != nil {
		v.Add("smiTrafficSplit.trafficSplit", s.TrafficSplit.String(), "%v", err)
		return v.Err()
	}
	_, _, _, problems := s.backends(u)
	for _, field := range []string{"service", "backends"} {
		if p, ok := problems[field]; ok {
			v.Add("smiTrafficSplit.trafficSplit.spec."+field, nil, "%s", p)
		}
	}
	return v.Err()
}

// SetWeight implements Router.
func (s *SMITrafficSplit) SetWeight(ctx context.Context, percent int32) error {
	if err := checkPercent("percent", percent); err != nil {
		return err
	}
	_, written, err := s.object().update(ctx, func(u *unstructured.Unstructured) error {
		list, stable, canary, err := s.splittable(u)
		if err != nil {
			return err
		}
		asMap(list[stable])["weight"] = int64(100 - percent)
		asMap(list[canary])["weight"] = int64(percent)
		return unstructured.SetNestedSlice(u.Object, list, "spec", "backends")
	})
	if err != nil || !written {
		return err
	}
	return verifyWeight(ctx, s, s.Name(), percent)
}

// Weight implements Router.
func (s *SMITrafficSplit) Weight(ctx context.Context) (int32, error) {
	u, err := s.object().get(ctx)
	if err != nil {
		return 0, err
	}
	list, stable, canary, err := s.splittable(u)
	if err != nil {
		return 0, err
	}
	ws, wc := max(asInt(asMap(list[stable])["weight"]), 0), max(asInt(asMap(list[canary])["weight"]), 0)
	if ws+wc == 0 {
		return 0, fmt.Errorf("%s gives both Services weight 0", s.Name())
	}
	return canaryPercent(ws, wc), nil
}

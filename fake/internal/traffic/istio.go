package traffic

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

type virtualService struct {
	Spec struct {
		HTTP []istioHTTPRoute `json:"http"`
	} `json:"spec"`
}

type istioHTTPRoute struct {
	Match []struct {
		Headers        map[string]istioStringMatch `json:"headers"`
		WithoutHeaders map[string]istioStringMatch `json:"withoutHeaders"`
	} `json:"match"`
	Route []struct {
		Destination istioDestination `json:"destination"`
		Weight      *int32           `json:"weight"`
	} `json:"route"`
	Mirror           *istioDestination `json:"mirror"`
	MirrorPercentage *istioPercent     `json:"mirrorPercentage"`
	MirrorPercent    *int32            `json:"mirrorPercent"`
	Mirrors          []struct {
		Destination istioDestination `json:"destination"`
		Percentage  *istioPercent    `json:"percentage"`
	} `json:"mirrors"`
}

type istioStringMatch struct {
	Exact  *string `json:"exact"`
	Prefix *string `json:"prefix"`
	Regex  *string `json:"regex"`
}

type istioDestination struct {
	Host   string `json:"host"`
	Subset string `json:"subset"`
}

type istioPercent struct {
	Value float64 `json:"value"`
}

type destinationRule struct {
	Spec struct {
		Host    string `json:"host"`
		Subsets []struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"subsets"`
	} `json:"spec"`
}

func (r *resolver) virtualService(ctx context.Context, e Entry, h map[string]string, res *Result) error {
	var vs virtualService
	if err := r.getCustom(ctx, KindVirtualService, virtualServiceGVRs, e.Namespace, e.Name, &vs); err != nil {
		return err
	}
	for _, route := range vs.Spec.HTTP {
		if !istioRouteMatches(route, h) {
			continue
		}
		total := 0.0
		for _, d := range route.Route {
			total += istioWeight(d.Weight, len(route.Route))
		}
		if total == 0 {
			res.Unserved = 1 // redirect, direct response or zero weights
		}
		for _, d := range route.Route {
			w := istioWeight(d.Weight, len(route.Route))
			if w == 0 {
				continue
			}
			shares, err := r.istioDestination(ctx, e.Namespace, d.Destination)
			if err != nil {
				return fmt.Errorf("VirtualService %s/%s: %w", e.Namespace, e.Name, err)
			}
			res.addServe(w/total, shares)
		}
		return r.istioMirrors(ctx, e, route, res)
	}
	res.Unserved = 1 // no route matches: 404
	return nil
}

// istioWeight is a destination's weight; a lone destination takes all.
func istioWeight(w *int32, n int) float64 {
	if w == nil {
		if n == 1 {
			return 100
		}
		return 0
	}
	return float64(max(*w, 0))
}

func (r *resolver) istioMirrors(ctx context.Context, e Entry, route istioHTTPRoute, res *Result) error {
	type mirror struct {
		d istioDestination
		p float64
	}
	var ms []mirror
	if route.Mirror != nil {
		p := 100.0
		switch {
		case route.MirrorPercentage != nil:
			p = route.MirrorPercentage.Value
		case route.MirrorPercent != nil:
			p = float64(*route.MirrorPercent)
		}
		ms = append(ms, mirror{*route.Mirror, p})
	}
	for _, m := range route.Mirrors {
		p := 100.0
		if m.Percentage != nil {
			p = m.Percentage.Value
		}
		ms = append(ms, mirror{m.Destination, p})
	}
	for _, m := range ms {
		shares, err := r.istioDestination(ctx, e.Namespace, m.d)
		if err != nil {
			return fmt.Errorf("VirtualService %s/%s mirror: %w", e.Namespace, e.Name, err)
		}
		res.addMirror(min(max(m.p, 0), 100)/100, shares)
	}
	return nil
}

// istioRouteMatches: any match block fits (all its conditions hold); no
// match blocks fits everything.
func istioRouteMatches(route istioHTTPRoute, h map[string]string) bool {
	if len(route.Match) == 0 {
		return true
	}
	for _, m := range route.Match {
		ok := true
		for name, sm := range m.Headers {
			v, present := h[strings.ToLower(name)]
			if !present || !sm.matches(v) {
				ok = false
				break
			}
		}
		for name, sm := range m.WithoutHeaders {
			v, present := h[strings.ToLower(name)]
			if present && sm.matches(v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// matches: an empty StringMatch checks presence only.
func (sm istioStringMatch) matches(v string) bool {
	switch {
	case sm.Exact != nil:
		return v == *sm.Exact
	case sm.Prefix != nil:
		return strings.HasPrefix(v, *sm.Prefix)
	case sm.Regex != nil:
		return fullMatch(*sm.Regex, v)
	}
	return true
}

// istioHost turns a destination host into a Service: "svc", "svc.ns",
// "svc.ns.svc" or "svc.ns.svc.<cluster domain>".
func istioHost(host, defaultNS string) (ns, name string) {
	parts := strings.Split(host, ".")
	if len(parts) == 1 {
		return defaultNS, parts[0]
	}
	return parts[1], parts[0]
}

func (r *resolver) istioDestination(ctx context.Context, vsNS string, d istioDestination) (map[string]float64, error) {
	ns, name := istioHost(d.Host, vsNS)
	var subset labels.Selector
	if d.Subset != "" {
		var err error
		if subset, err = r.istioSubset(ctx, vsNS, ns, name, d.Subset); err != nil {
			return nil, err
		}
	}
	return r.service(ctx, ns, name, subset)
}

// istioSubset finds the labels of subset in a DestinationRule for the
// Service ns/name, in the VirtualService's or the Service's namespace.
func (r *resolver) istioSubset(ctx context.Context, vsNS, ns, name, subset string) (labels.Selector, error) {
	for _, lookIn := range uniq(vsNS, ns) {
		for _, gvr := range destinationRuleGVRs {
			list, err := r.m.Dynamic.Resource(gvr).Namespace(lookIn).List(ctx, metav1.ListOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("listing DestinationRules in %s: %w", lookIn, err)
			}
			for i := range list.Items {
				var dr destinationRule
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(list.Items[i].Object, &dr); err != nil {
					return nil, fmt.Errorf("decoding DestinationRule %s/%s: %w", lookIn, list.Items[i].GetName(), err)
				}
				if hns, hname := istioHost(dr.Spec.Host, lookIn); hns != ns || hname != name {
					continue
				}
				for _, s := range dr.Spec.Subsets {
					if s.Name == subset {
						return labels.SelectorFromSet(s.Labels), nil
					}
				}
			}
			break // the other versions serve the same objects
		}
	}
	return nil, fmt.Errorf("subset %q of Service %s/%s: no DestinationRule defines it", subset, ns, name)
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

package traffic

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GVRs read through the dynamic client, newest version first.
var (
	httpRouteGVRs = []schema.GroupVersionResource{
		{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"},
	}
	virtualServiceGVRs = []schema.GroupVersionResource{
		{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
		{Group: "networking.istio.io", Version: "v1beta1", Resource: "virtualservices"},
	}
	destinationRuleGVRs = []schema.GroupVersionResource{
		{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"},
		{Group: "networking.istio.io", Version: "v1beta1", Resource: "destinationrules"},
	}
	trafficSplitGVRs = []schema.GroupVersionResource{
		{Group: "split.smi-spec.io", Version: "v1alpha4", Resource: "trafficsplits"},
		{Group: "split.smi-spec.io", Version: "v1alpha3", Resource: "trafficsplits"},
		{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"},
	}
)

// getCustom reads kind ns/name at the first of gvrs that has it and decodes
// it into out. When no version has it, the last NotFound is wrapped.
func (r *resolver) getCustom(ctx context.Context, kind string, gvrs []schema.GroupVersionResource, ns, name string, out any) error {
	if r.m.Dynamic == nil {
		return fmt.Errorf("reading %s %s/%s: Model.Dynamic is nil", kind, ns, name)
	}
	var err error
	for _, gvr := range gvrs {
		u, gerr := r.m.Dynamic.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if gerr == nil {
			if cerr := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); cerr != nil {
				return fmt.Errorf("decoding %s %s/%s: %w", kind, ns, name, cerr)
			}
			return nil
		}
		err = gerr
		if !apierrors.IsNotFound(gerr) {
			break
		}
	}
	return fmt.Errorf("reading %s %s/%s: %w", kind, ns, name, err)
}

type httpRoute struct {
	Spec struct {
		Rules []httpRouteRule `json:"rules"`
	} `json:"spec"`
}

type httpRouteRule struct {
	Matches     []httpRouteMatch  `json:"matches"`
	Filters     []httpRouteFilter `json:"filters"`
	BackendRefs []httpBackendRef  `json:"backendRefs"`
}

type httpRouteMatch struct {
	Headers []struct {
		Type  *string `json:"type"`
		Name  string  `json:"name"`
		Value string  `json:"value"`
	} `json:"headers"`
}

type httpRouteFilter struct {
	Type          string `json:"type"`
	RequestMirror *struct {
		BackendRef objectRef `json:"backendRef"`
		Percent    *int32    `json:"percent"`
		Fraction   *struct {
			Numerator   int32  `json:"numerator"`
			Denominator *int32 `json:"denominator"`
		} `json:"fraction"`
	} `json:"requestMirror"`
}

type objectRef struct {
	Group     *string `json:"group"`
	Kind      *string `json:"kind"`
	Name      string  `json:"name"`
	Namespace *string `json:"namespace"`
}

type httpBackendRef struct {
	objectRef `json:",inline"`
	Weight    *int32            `json:"weight"`
	Filters   []httpRouteFilter `json:"filters"`
}

// isService reports whether ref points at a core Service.
func (o objectRef) isService() bool {
	return deref(o.Group, "") == "" && deref(o.Kind, "Service") == "Service"
}

func (r *resolver) httpRoute(ctx context.Context, e Entry, h map[string]string, res *Result) error {
	var hr httpRoute
	if err := r.getCustom(ctx, KindHTTPRoute, httpRouteGVRs, e.Namespace, e.Name, &hr); err != nil {
		return err
	}
	// Gateway API precedence among matches of one route (paths, methods and
	// query parameters aside): most header matches, then rule order.
	best, bestHeaders := -1, -1
	for i, rule := range hr.Spec.Rules {
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []httpRouteMatch{{}}
		}
		for _, m := range matches {
			if len(m.Headers) > bestHeaders && gatewayHeadersMatch(m, h) {
				best, bestHeaders = i, len(m.Headers)
			}
		}
	}
	if best < 0 {
		res.Unserved = 1 // 404
		return nil
	}
	rule := hr.Spec.Rules[best]
	if err := r.gatewayMirrors(ctx, e.Namespace, rule.Filters, 1, res); err != nil {
		return err
	}
	total := 0.0
	for _, b := range rule.BackendRefs {
		total += float64(max(deref(b.Weight, 1), 0))
	}
	if total == 0 {
		res.Unserved = 1 // no backends, or all weights zero: 500
		return nil
	}
	for _, b := range rule.BackendRefs {
		w := float64(max(deref(b.Weight, 1), 0)) / total
		if w == 0 {
			continue
		}
		if !b.isService() {
			res.Unserved += w // invalid backendRef: 500 for its share
			continue
		}
		shares, err := r.service(ctx, deref(b.Namespace, e.Namespace), b.Name, nil)
		if err != nil {
			return fmt.Errorf("HTTPRoute %s/%s: %w", e.Namespace, e.Name, err)
		}
		res.addServe(w, shares)
		if err := r.gatewayMirrors(ctx, e.Namespace, b.Filters, w, res); err != nil {
			return err
		}
	}
	return nil
}

func gatewayHeadersMatch(m httpRouteMatch, h map[string]string) bool {
	for _, hm := range m.Headers {
		got, ok := h[strings.ToLower(hm.Name)]
		if !ok {
			return false
		}
		switch deref(hm.Type, "Exact") {
		case "Exact":
			if got != hm.Value {
				return false
			}
		case "RegularExpression":
			if !fullMatch(hm.Value, got) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// gatewayMirrors adds the RequestMirror filters among fs for fraction w of
// the route's requests.
func (r *resolver) gatewayMirrors(ctx context.Context, ns string, fs []httpRouteFilter, w float64, res *Result) error {
	for _, f := range fs {
		rm := f.RequestMirror
		if f.Type != "RequestMirror" || rm == nil || !rm.BackendRef.isService() {
			continue
		}
		p := 1.0
		switch {
		case rm.Percent != nil:
			p = float64(*rm.Percent) / 100
		case rm.Fraction != nil:
			p = float64(rm.Fraction.Numerator) / float64(deref(rm.Fraction.Denominator, 100))
		}
		shares, err := r.service(ctx, deref(rm.BackendRef.Namespace, ns), rm.BackendRef.Name, nil)
		if err != nil {
			return fmt.Errorf("mirror: %w", err)
		}
		res.addMirror(w*p, shares)
	}
	return nil
}

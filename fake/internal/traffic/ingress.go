package traffic

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NGINX Ingress canary annotations.
const (
	nginxPrefix        = "nginx.ingress.kubernetes.io/"
	annCanary          = nginxPrefix + "canary"
	annByHeader        = nginxPrefix + "canary-by-header"
	annByHeaderValue   = nginxPrefix + "canary-by-header-value"
	annByHeaderPattern = nginxPrefix + "canary-by-header-pattern"
	annByCookie        = nginxPrefix + "canary-by-cookie"
	annWeight          = nginxPrefix + "canary-weight"
	annWeightTotal     = nginxPrefix + "canary-weight-total"
	annIngressClass    = "kubernetes.io/ingress.class"
)

func (r *resolver) ingress(ctx context.Context, e Entry, h map[string]string, res *Result) error {
	ings := r.m.Kube.NetworkingV1().Ingresses(e.Namespace)
	primary, err := ings.Get(ctx, e.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading Ingress %s/%s: %w", e.Namespace, e.Name, err)
	}
	if primary.Annotations[annCanary] == "true" {
		return fmt.Errorf("Ingress %s/%s is a canary; route to its primary Ingress", e.Namespace, e.Name)
	}
	host, path, svc := ingressBackend(primary, "", "", false)
	if svc == "" {
		return fmt.Errorf("Ingress %s/%s has no Service backend", e.Namespace, e.Name)
	}
	main, err := r.service(ctx, e.Namespace, svc, nil)
	if err != nil {
		return fmt.Errorf("Ingress %s/%s: %w", e.Namespace, e.Name, err)
	}
	if len(main) == 0 {
		res.Unserved = 1 // ingress-nginx answers 503 before looking at canaries
		return nil
	}
	all, err := ings.List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing Ingresses in %s: %w", e.Namespace, err)
	}
	canary, canarySvc := pickCanary(all.Items, primary, host, path)
	if canary == nil {
		res.addServe(1, main)
		return nil
	}
	alt, err := r.service(ctx, e.Namespace, canarySvc, nil)
	if err != nil {
		return fmt.Errorf("canary Ingress %s/%s: %w", e.Namespace, canary.Name, err)
	}
	p := 0.0
	if len(alt) > 0 { // a canary without endpoints has no balancer: primary serves
		p = canaryShare(canary.Annotations, h)
	}
	res.addServe(1-p, main)
	res.addServe(p, alt)
	return nil
}

// ingressBackend returns the first host/path of ing and its Service, or with
// match set, the Service of the path equal to host/path.
func ingressBackend(ing *networkingv1.Ingress, host, path string, match bool) (string, string, string) {
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil || (match && rule.Host != host) {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if match && p.Path != path {
				continue
			}
			if p.Backend.Service == nil {
				return rule.Host, p.Path, ""
			}
			return rule.Host, p.Path, p.Backend.Service.Name
		}
	}
	if !match && ing.Spec.DefaultBackend != nil && ing.Spec.DefaultBackend.Service != nil {
		return "", "", ing.Spec.DefaultBackend.Service.Name
	}
	return "", "", ""
}

func ingressClass(ing *networkingv1.Ingress) string {
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName
	}
	return ing.Annotations[annIngressClass]
}

// pickCanary finds the canary Ingress for host/path of primary; with several,
// the oldest (then by name) wins, as ingress-nginx supports only one.
func pickCanary(items []networkingv1.Ingress, primary *networkingv1.Ingress, host, path string) (*networkingv1.Ingress, string) {
	var found []*networkingv1.Ingress
	svcs := map[string]string{}
	for i := range items {
		c := &items[i]
		if c.Name == primary.Name || c.Annotations[annCanary] != "true" || ingressClass(c) != ingressClass(primary) {
			continue
		}
		if _, _, svc := ingressBackend(c, host, path, true); svc != "" {
			found = append(found, c)
			svcs[c.Name] = svc
		}
	}
	if len(found) == 0 {
		return nil, ""
	}
	sort.Slice(found, func(i, j int) bool {
		ti, tj := found[i].CreationTimestamp, found[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return found[i].Name < found[j].Name
	})
	return found[0], svcs[found[0].Name]
}

// canaryShare is the fraction of requests with headers h that ingress-nginx
// sends to the canary (its balancer.lua route_to_alternative_balancer).
func canaryShare(ann map[string]string, h map[string]string) float64 {
	if name := ann[annByHeader]; name != "" {
		if v, ok := h[strings.ToLower(name)]; ok {
			switch value, pattern := ann[annByHeaderValue], ann[annByHeaderPattern]; {
			case value != "":
				if v == value {
					return 1
				}
			case pattern != "":
				re, err := regexp.Compile(pattern)
				if err != nil {
					return 0
				}
				if re.MatchString(v) {
					return 1
				}
			case v == "always":
				return 1
			case v == "never":
				return 0
			}
		}
	}
	if name := ann[annByCookie]; name != "" {
		if c, err := (&http.Request{Header: http.Header{"Cookie": {h["cookie"]}}}).Cookie(name); err == nil {
			switch c.Value {
			case "always":
				return 1
			case "never":
				return 0
			}
		}
	}
	weight, _ := strconv.Atoi(ann[annWeight])
	total, err := strconv.Atoi(ann[annWeightTotal])
	if err != nil || total <= 100 {
		total = 100
	}
	return float64(min(max(weight, 0), total)) / float64(total)
}

package traffic

import (
	"context"
	"fmt"
	"reflect"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	networkingclient "k8s.io/client-go/kubernetes/typed/networking/v1"

	"github.com/switchyard-dev/switchyard/strategy"
)

// NGINX Ingress canary annotations the NGINXIngress router writes.
const (
	NGINXCanary                = "nginx.ingress.kubernetes.io/canary"
	NGINXCanaryWeight          = "nginx.ingress.kubernetes.io/canary-weight"
	NGINXCanaryWeightTotal     = "nginx.ingress.kubernetes.io/canary-weight-total"
	NGINXCanaryByHeader        = "nginx.ingress.kubernetes.io/canary-by-header"
	NGINXCanaryByHeaderValue   = "nginx.ingress.kubernetes.io/canary-by-header-value"
	NGINXCanaryByHeaderPattern = "nginx.ingress.kubernetes.io/canary-by-header-pattern"
	// AnnotationHeaderRoute names the header route a canary Ingress
	// carries.
	AnnotationHeaderRoute  = "switchyard.dev/header-route"
	ingressClassAnnotation = "kubernetes.io/ingress.class"
)

// NGINXIngress routes with ingress-nginx canary Ingresses. Ingress is the
// app's primary Ingress, which it never writes; the router manages a canary
// Ingress "<ingress>-canary" (labelled as managed by switchyard, owned by
// the primary) with the primary's class and its host/path rules, pointed at
// CanaryService with the same ports, and the annotations canary "true" and
// canary-weight. The canary Ingress is created on the first SetWeight or
// SetHeaderRoute; weight 0 keeps it; Remove deletes it. Its rules follow
// the primary's at every write.
//
// A header route is canary-by-header with canary-by-header-value (Exact)
// or canary-by-header-pattern (Prefix and RegularExpression, anchored to
// match the whole value like the other routers): one header, and one header
// route at a time, as ingress-nginx allows. ingress-nginx cannot mirror a
// share of requests, so this router has no mirror.
//
// Writes are Updates carrying the resourceVersion read (or a Create),
// retried at once on conflict.
type NGINXIngress struct {
	// Clients reach the cluster: Kube reads the Ingresses and Services and
	// writes the canary Ingress.
	Clients strategy.Clients
	// Ingress names the primary Ingress. The Services and the canary
	// Ingress are in its namespace.
	Ingress types.NamespacedName
	// StableService, when set, is the Service that selects the stable
	// slot: only the primary's paths to it are copied to the canary
	// Ingress. Empty copies every path with a Service backend.
	StableService string
	// CanaryService is the Service that selects the canary slot.
	CanaryService string
	// AllowCrossNamespace lets the router write outside the app's
	// namespace; see the option of that name.
	AllowCrossNamespace bool
}

var _ HeaderRouter = (*NGINXIngress)(nil)

// NewNGINXIngress returns a router for the primary Ingress ingress that
// sends a share of its traffic to the Service canary. ingress's namespace
// must be the app's unless opts hold AllowCrossNamespace.
func NewNGINXIngress(c strategy.Clients, ingress types.NamespacedName, canary string, opts ...Option) *NGINXIngress {
	o := newOptions(opts)
	return &NGINXIngress{Clients: c, Ingress: ingress, CanaryService: canary, AllowCrossNamespace: o.crossNamespace}
}

// Name implements Router.
func (n *NGINXIngress) Name() string { return "Ingress " + n.Ingress.String() }

// CanaryIngress is the name of the canary Ingress the router manages.
func (n *NGINXIngress) CanaryIngress() string { return n.Ingress.Name + "-canary" }

func (n *NGINXIngress) ingresses() networkingclient.IngressInterface {
	return n.Clients.Kube.NetworkingV1().Ingresses(n.Ingress.Namespace)
}

// canaryRules copies the primary's paths to the canary Service.
func (n *NGINXIngress) canaryRules(primary *networkingv1.Ingress) ([]networkingv1.IngressRule, error) {
	if primary.Annotations[NGINXCanary] == "true" {
		return nil, fmt.Errorf("%s is itself a canary Ingress", n.Name())
	}
	var rules []networkingv1.IngressRule
	for _, r := range primary.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		var paths []networkingv1.HTTPIngressPath
		for _, p := range r.HTTP.Paths {
			svc := p.Backend.Service
			if svc == nil || (n.StableService != "" && svc.Name != n.StableService) {
				continue
			}
			p = *p.DeepCopy()
			p.Backend.Service.Name = n.CanaryService
			paths = append(paths, p)
		}
		if len(paths) > 0 {
			rules = append(rules, networkingv1.IngressRule{Host: r.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}})
		}
	}
	if len(rules) == 0 {
		what := "any Service"
		if n.StableService != "" {
			what = "Service " + n.StableService
		}
		return nil, fmt.Errorf("%s has no host/path rule that routes to %s", n.Name(), what)
	}
	return rules, nil
}

func isManaged(o metav1.Object) bool {
	return o.GetLabels()[strategy.LabelManagedBy] == strategy.ManagedBy
}

// Validate implements Router.
func (n *NGINXIngress) Validate(ctx context.Context) error {
	var v strategy.Validator
	paths, names := []string{"nginxIngress.canaryService"}, []string{n.CanaryService}
	if n.StableService != "" {
		paths, names = append(paths, "nginxIngress.stableService"), append(names, n.StableService)
	}
	checkServices(ctx, n.Clients.Kube, &v, n.Ingress.Namespace, paths, names)
	primary, err := n.ingresses().Get(ctx, n.Ingress.Name, metav1.GetOptions{})
	if err != nil {
		v.Add("nginxIngress.ingress", n.Ingress.String(), "reading %s: %v", n.Name(), err)
		return v.Err()
	}
	rules, err := n.canaryRules(primary)
	if err != nil {
		v.Add("nginxIngress.ingress", n.Ingress.String(), "%v", err)
	}
	if svc, err := n.Clients.Kube.CoreV1().Services(n.Ingress.Namespace).Get(ctx, n.CanaryService, metav1.GetOptions{}); err == nil {
		for _, r := range rules {
			for _, p := range r.HTTP.Paths {
				if port := p.Backend.Service.Port; !hasPort(svc, port) {
					v.Add("nginxIngress.canaryService", n.CanaryService, "has no port %s, which host %q path %q uses", portString(port), r.Host, p.Path)
				}
			}
		}
	}
	canary, err := n.ingresses().Get(ctx, n.CanaryIngress(), metav1.GetOptions{})
	switch {
	case err == nil && !isManaged(canary):
		v.Add("nginxIngress.ingress", n.Ingress.String(), "Ingress %s/%s exists and is not managed by switchyard", n.Ingress.Namespace, n.CanaryIngress())
	case err != nil && !apierrors.IsNotFound(err):
		v.Add("nginxIngress.ingress", n.Ingress.String(), "reading the canary Ingress: %v", err)
	}
	return v.Err()
}

func hasPort(svc *corev1.Service, port networkingv1.ServiceBackendPort) bool {
	for _, p := range svc.Spec.Ports {
		if (port.Name != "" && p.Name == port.Name) || (port.Name == "" && p.Port == port.Number) {
			return true
		}
	}
	return false
}

func portString(p networkingv1.ServiceBackendPort) string {
	if p.Name != "" {
		return strconv.Quote(p.Name)
	}
	return strconv.Itoa(int(p.Number))
}

// write brings the canary Ingress's rules and class in line with the
// primary and lets edit change its annotations. A missing canary Ingress is
// created when create is set and left missing otherwise. It reports
// whether it wrote.
func (n *NGINXIngress) write(ctx context.Context, create bool, edit func(ann map[string]string) error) (bool, error) {
	for attempt := 0; ; attempt++ {
		primary, err := n.ingresses().Get(ctx, n.Ingress.Name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("reading %s: %w", n.Name(), err)
		}
		rules, err := n.canaryRules(primary)
		if err != nil {
			return false, err
		}
		cur, err := n.ingresses().Get(ctx, n.CanaryIngress(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) && !create:
			return false, nil
		case apierrors.IsNotFound(err):
			cur = &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{
				Name: n.CanaryIngress(), Namespace: n.Ingress.Namespace,
				Labels:          map[string]string{strategy.LabelManagedBy: strategy.ManagedBy},
				Annotations:     map[string]string{NGINXCanaryWeight: "0"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: primary.Name, UID: primary.UID}},
			}}
		case err != nil:
			return false, fmt.Errorf("reading Ingress %s/%s: %w", n.Ingress.Namespace, n.CanaryIngress(), err)
		case !isManaged(cur):
			return false, fmt.Errorf("Ingress %s/%s exists and is not managed by switchyard", n.Ingress.Namespace, n.CanaryIngress())
		}
		next := cur.DeepCopy()
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[NGINXCanary] = "true"
		if class, ok := primary.Annotations[ingressClassAnnotation]; ok {
			next.Annotations[ingressClassAnnotation] = class
		}
		next.Spec = networkingv1.IngressSpec{IngressClassName: primary.Spec.IngressClassName, Rules: rules}
		if err := edit(next.Annotations); err != nil {
			return false, err
		}
		if cur.UID != "" && reflect.DeepEqual(cur, next) {
			return false, nil
		}
		if cur.UID == "" {
			_, err = n.ingresses().Create(ctx, next, metav1.CreateOptions{})
		} else {
			_, err = n.ingresses().Update(ctx, next, metav1.UpdateOptions{})
		}
		if err == nil {
			return true, nil
		}
		if !(apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) || attempt >= maxConflicts {
			return false, fmt.Errorf("writing Ingress %s/%s: %w", n.Ingress.Namespace, n.CanaryIngress(), err)
		}
	}
}

// SetWeight implements Router.
func (n *NGINXIngress) SetWeight(ctx context.Context, percent int32) error {
	if err := checkPercent("percent", percent); err != nil {
		return err
	}
	written, err := n.write(ctx, true, func(ann map[string]string) error {
		ann[NGINXCanaryWeight] = strconv.Itoa(int(percent))
		delete(ann, NGINXCanaryWeightTotal)
		return nil
	})
	if err != nil || !written {
		return err
	}
	return verifyWeight(ctx, n, fmt.Sprintf("Ingress %s/%s", n.Ingress.Namespace, n.CanaryIngress()), percent)
}

// Weight implements Router: 0 while there is no canary Ingress.
func (n *NGINXIngress) Weight(ctx context.Context) (int32, error) {
	c, err := n.ingresses().Get(ctx, n.CanaryIngress(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading Ingress %s/%s: %w", n.Ingress.Namespace, n.CanaryIngress(), err)
	}
	if c.Annotations[NGINXCanary] != "true" {
		return 0, nil
	}
	w, total := int64(0), int64(100)
	if s, ok := c.Annotations[NGINXCanaryWeight]; ok {
		if w, err = strconv.ParseInt(s, 10, 32); err != nil {
			return 0, fmt.Errorf("Ingress %s/%s: %s %q: %w", n.Ingress.Namespace, n.CanaryIngress(), NGINXCanaryWeight, s, err)
		}
	}
	if t, err := strconv.ParseInt(c.Annotations[NGINXCanaryWeightTotal], 10, 32); err == nil && t > 100 {
		total = t // ingress-nginx ignores totals up to 100
	}
	w = min(max(w, 0), total)
	return canaryPercent(total-w, w), nil
}

// SetHeaderRoute implements HeaderRouter. matches must hold one header;
// a header route of another name must be removed first.
func (n *NGINXIngress) SetHeaderRoute(ctx context.Context, name string, matches []HeaderMatch) error {
	if err := checkHeaderRoute(name, matches, n.maxHeaderMatches()); err != nil {
		return err
	}
	m := matches[0]
	_, err := n.write(ctx, true, func(ann map[string]string) error {
		if old := ann[AnnotationHeaderRoute]; old != "" && old != name {
			return fmt.Errorf("Ingress %s/%s carries header route %q; ingress-nginx allows one, so remove it before setting %q",
				n.Ingress.Namespace, n.CanaryIngress(), old, name)
		}
		removeHeaderRoute(ann)
		ann[AnnotationHeaderRoute] = name
		ann[NGINXCanaryByHeader] = m.Name
		if m.Type == "" || m.Type == HeaderExact {
			ann[NGINXCanaryByHeaderValue] = m.Value
		} else {
			ann[NGINXCanaryByHeaderPattern] = "^(?:" + fullRegexp(m) + ")$"
		}
		return nil
	})
	return err
}

// RemoveHeaderRoutes implements HeaderRouter.
func (n *NGINXIngress) RemoveHeaderRoutes(ctx context.Context) error {
	_, err := n.write(ctx, false, func(ann map[string]string) error {
		removeHeaderRoute(ann)
		return nil
	})
	return err
}

func removeHeaderRoute(ann map[string]string) {
	for _, k := range []string{AnnotationHeaderRoute, NGINXCanaryByHeader, NGINXCanaryByHeaderValue, NGINXCanaryByHeaderPattern} {
		delete(ann, k)
	}
}

// Remove deletes the canary Ingress, so all traffic goes to the primary's
// backends; a missing canary Ingress is not an error.
func (n *NGINXIngress) Remove(ctx context.Context) error {
	c, err := n.ingresses().Get(ctx, n.CanaryIngress(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Ingress %s/%s: %w", n.Ingress.Namespace, n.CanaryIngress(), err)
	}
	if !isManaged(c) {
		return fmt.Errorf("Ingress %s/%s is not managed by switchyard; not deleting it", n.Ingress.Namespace, n.CanaryIngress())
	}
	err = n.ingresses().Delete(ctx, c.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &c.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting Ingress %s/%s: %w", n.Ingress.Namespace, n.CanaryIngress(), err)
	}
	return nil
}

// maxHeaderMatches is the most headers a header route may match:
// ingress-nginx routes by one header.
func (n *NGINXIngress) maxHeaderMatches() int { return 1 }

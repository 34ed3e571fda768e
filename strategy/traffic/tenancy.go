package traffic

import (
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Option configures a router made by NewGatewayHTTPRoute,
// NewIstioVirtualService, NewSMITrafficSplit or NewNGINXIngress.
type Option interface{ apply(*options) }

type options struct{ crossNamespace bool }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	return o
}

// AllowCrossNamespace lets a router read and write its objects in a
// namespace other than the app's. Without it, CheckNamespace, which a
// canary release calls before its first write, refuses such a router:
// switchyard writes only in the app's namespace unless the caller opts in
// where a code review sees it.
func AllowCrossNamespace() Option {
	return optionFunc(func(o *options) { o.crossNamespace = true })
}

// Namespaced is a Router that says where it writes. Every router of this
// package is one.
type Namespaced interface {
	Router
	// Namespace is the namespace of the objects the router reads and
	// writes, Services included.
	Namespace() string
	// AllowsCrossNamespace reports whether the router was built with
	// AllowCrossNamespace (or its AllowCrossNamespace field set).
	AllowsCrossNamespace() bool
}

var (
	_ Namespaced = (*GatewayHTTPRoute)(nil)
	_ Namespaced = (*IstioVirtualService)(nil)
	_ Namespaced = (*SMITrafficSplit)(nil)
	_ Namespaced = (*NGINXIngress)(nil)
)

// CheckNamespace returns a *strategy.ValidationError at field "namespace"
// when r would write in a namespace other than app's and was not allowed
// to by AllowCrossNamespace. It makes no request. A router that is not
// Namespaced, a caller's own, is the caller's to keep in its namespace.
func CheckNamespace(r Router, app types.NamespacedName) error {
	n, ok := r.(Namespaced)
	if !ok || n.AllowsCrossNamespace() || n.Namespace() == app.Namespace {
		return nil
	}
	var v strategy.Validator
	if n.Namespace() == "" {
		v.Add("namespace", nil, "%s names no namespace; it must be the app's namespace %q", r.Name(), app.Namespace)
	} else {
		v.Add("namespace", n.Namespace(), "%s is outside the app's namespace %q; build the router with traffic.AllowCrossNamespace() to write there", r.Name(), app.Namespace)
	}
	return v.Err()
}

// Namespace implements Namespaced.
func (g *GatewayHTTPRoute) Namespace() string { return g.Route.Namespace }

// AllowsCrossNamespace implements Namespaced.
func (g *GatewayHTTPRoute) AllowsCrossNamespace() bool { return g.AllowCrossNamespace }

// Namespace implements Namespaced.
func (s *IstioVirtualService) Namespace() string { return s.VirtualService.Namespace }

// AllowsCrossNamespace implements Namespaced.
func (s *IstioVirtualService) AllowsCrossNamespace() bool { return s.AllowCrossNamespace }

// Namespace implements Namespaced.
func (s *SMITrafficSplit) Namespace() string { return s.TrafficSplit.Namespace }

// AllowsCrossNamespace implements Namespaced.
func (s *SMITrafficSplit) AllowsCrossNamespace() bool { return s.AllowCrossNamespace }

// Namespace implements Namespaced.
func (n *NGINXIngress) Namespace() string { return n.Ingress.Namespace }

// AllowsCrossNamespace implements Namespaced.
func (n *NGINXIngress) AllowsCrossNamespace() bool { return n.AllowCrossNamespace }

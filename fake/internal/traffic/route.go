package traffic

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Kinds of entry points that [Model.Route] understands.
const (
	KindService        = "Service"
	KindHTTPRoute      = "HTTPRoute"
	KindVirtualService = "VirtualService"
	KindTrafficSplit   = "TrafficSplit"
	KindIngress        = "Ingress"
)

// ErrUnknownKind is returned (wrapped) by [Model.Route] for an [Entry] whose
// Kind is not one of the Kind constants.
var ErrUnknownKind = errors.New("unknown entry kind")

// Entry names the object requests are sent to: a Service, or a router object
// (HTTPRoute, VirtualService, TrafficSplit, or the primary NGINX Ingress).
type Entry struct {
	Kind, Namespace, Name string
}

// Request describes one class of requests. Only headers take part in
// matching; names are compared case-insensitively, values exactly.
type Request struct {
	Headers map[string]string
}

// Result is how the requests of one class are spread over versions.
//
// Serve maps a version (the value of the pods' version label, "" for pods
// without it) to the fraction of requests it serves. Serve plus Unserved sum
// to 1: Serve sums to 1 when every request reaches a ready endpoint, and is
// empty when none does (for a Service: it has no ready endpoint). Mirror maps
// a version to the number of copies per request it receives from mirroring
// (normally a fraction; two mirrors of the same version may add up to more
// than 1). Both maps are never nil.
type Result struct {
	Serve  map[string]float64
	Mirror map[string]float64
	// Unserved is the fraction of requests that reach no endpoint and fail
	// (5xx in a real data plane): no matching route, zero weights, or a
	// chosen backend Service without ready endpoints.
	Unserved float64
}

// Model reads routing objects from a cluster's API and computes [Result]s.
// Its zero value is not usable: Kube is required, Dynamic is required for
// HTTPRoute, VirtualService and TrafficSplit entries. A Model holds no state
// and is safe for concurrent use.
type Model struct {
	// Kube reads Services, EndpointSlices, Pods and Ingresses.
	Kube kubernetes.Interface
	// Dynamic reads HTTPRoutes, VirtualServices, DestinationRules and
	// TrafficSplits.
	Dynamic dynamic.Interface
	// VersionLabel is the pod label naming the version, for example
	// "switchyard.dev/revision". Empty: every pod is version "".
	VersionLabel string
}

// Route reports which versions serve requests r sent to e, as real data
// planes would route them:
//
//   - Service: evenly over its ready endpoints (EndpointSlices with
//     conditions.ready true or unset); when none is ready, over its serving
//     terminating endpoints, as kube-proxy does; otherwise nothing serves.
//   - HTTPRoute (gateway.networking.k8s.io/v1): header matches (Exact,
//     RegularExpression); across rules the match with the most header
//     conditions wins, ties go to the earlier rule; backendRefs of kind
//     Service split by weight (default 1); RequestMirror filters on rules and
//     backendRefs (percent or fraction).
//   - VirtualService (networking.istio.io/v1, else v1beta1): the first http
//     route whose match fits (headers exact, prefix, regex, presence;
//     withoutHeaders); destination weights; subsets from DestinationRules;
//     mirror with mirrorPercentage or mirrorPercent, and mirrors.
//   - TrafficSplit (split.smi-spec.io/v1alpha4, v1alpha3, v1alpha2): the
//     root Service must exist; backends split by weight.
//   - Ingress (networking.k8s.io/v1): the canary Ingress with the same host,
//     path and class, chosen by canary-by-header (value, pattern,
//     always/never), canary-by-cookie, then canary-weight out of
//     canary-weight-total (honoured above 100, as ingress-nginx does). A
//     canary without endpoints falls back to the primary; a primary without
//     endpoints fails everything.
//
// Missing objects are errors that wrap the API error, so
// apierrors.IsNotFound works on them.
func (m *Model) Route(ctx context.Context, e Entry, r Request) (Result, error) {
	rs := &resolver{m: m, pods: map[string]map[string]*corev1.Pod{}}
	res := newResult()
	h := normHeaders(r.Headers)
	var err error
	switch e.Kind {
	case KindService:
		var shares map[string]float64
		shares, err = rs.service(ctx, e.Namespace, e.Name, nil)
		if err == nil {
			res.addServe(1, shares)
		}
	case KindHTTPRoute:
		err = rs.httpRoute(ctx, e, h, &res)
	case KindVirtualService:
		err = rs.virtualService(ctx, e, h, &res)
	case KindTrafficSplit:
		err = rs.trafficSplit(ctx, e, &res)
	case KindIngress:
		err = rs.ingress(ctx, e, h, &res)
	default:
		return Result{}, fmt.Errorf("routing %s %s/%s: %w", e.Kind, e.Namespace, e.Name, ErrUnknownKind)
	}
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

func newResult() Result {
	return Result{Serve: map[string]float64{}, Mirror: map[string]float64{}}
}

// addServe sends fraction w of all requests to a backend whose versions
// share its traffic as shares; an empty shares means the backend fails them.
func (r *Result) addServe(w float64, shares map[string]float64) {
	if w <= 0 {
		return
	}
	if len(shares) == 0 {
		r.Unserved += w
		return
	}
	for v, s := range shares {
		r.Serve[v] += w * s
	}
}

// addMirror copies fraction w of all requests to a backend. Copies to a
// backend without ready endpoints are lost, as in real proxies.
func (r *Result) addMirror(w float64, shares map[string]float64) {
	if w <= 0 {
		return
	}
	for v, s := range shares {
		r.Mirror[v] += w * s
	}
}

// normHeaders lower-cases header names once per request.
func normHeaders(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[strings.ToLower(k)] = v
	}
	return out
}

// fullMatch reports whether re matches all of s (Envoy's safe_regex
// semantics). An invalid expression matches nothing.
func fullMatch(re, s string) bool {
	c, err := regexp.Compile(`^(?:` + re + `)$`)
	return err == nil && c.MatchString(s)
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

package traffic

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Router sends a share of the app's traffic to the canary Service. The app
// has a stable Service and a canary Service, each selecting one slot; a
// router splits the requests of its entry object between them.
//
// Routers are stateless: every call reads the objects it changes, so a
// router value may be rebuilt at any time, and a driver that crashed and
// restarted finds the weight where it left it.
type Router interface {
	// Name says which kind of router this is and which object it writes,
	// e.g. "HTTPRoute shop/web".
	Name() string
	// Validate checks, before any write, that the router's objects exist
	// and reference both Services. Its errors are *strategy.ValidationError
	// with field paths.
	Validate(ctx context.Context) error
	// SetWeight sends percent (0..100) of requests to the canary and the
	// rest to stable, and reads the objects back to verify the weight
	// took; if it did not, the error names the object. A percent outside
	// 0..100 is a *strategy.ValidationError.
	SetWeight(ctx context.Context, percent int32) error
	// Weight reads the canary weight the objects carry now.
	Weight(ctx context.Context) (int32, error)
}

// HeaderMatch is one header condition of a header route. A request matches
// a header route when it matches all its conditions.
type HeaderMatch struct {
	// Name is the header name, compared case-insensitively.
	Name string
	// Value is what the header's value is compared with: the whole value
	// (Exact), its beginning (Prefix), or a RE2 expression that must match
	// the whole value (RegularExpression).
	Value string
	// Type is one of HeaderExact (the default when empty), HeaderPrefix and
	// HeaderRegularExpression.
	Type string
}

// HeaderMatch types.
const (
	HeaderExact             = "Exact"
	HeaderPrefix            = "Prefix"
	HeaderRegularExpression = "RegularExpression"
)

// HeaderRouter is a Router that can also send the requests that carry
// certain headers to the canary, whatever the weight.
type HeaderRouter interface {
	Router
	// SetHeaderRoute sends every request matching all of matches to the
	// canary. name identifies the route (a DNS-1123 label); setting a name
	// again replaces its route.
	SetHeaderRoute(ctx context.Context, name string, matches []HeaderMatch) error
	// RemoveHeaderRoutes removes every header route the router set.
	RemoveHeaderRoutes(ctx context.Context) error
}

// MirrorRouter is a Router that can also copy a share of the requests to
// the canary, whose answers are discarded.
type MirrorRouter interface {
	Router
	// SetMirror copies percent (0..100) of the requests the weighted routes
	// receive to the canary. A router keeps one mirror: setting one
	// replaces the previous, whatever its name (a DNS-1123 label, used in
	// errors).
	SetMirror(ctx context.Context, name string, percent int32) error
	// RemoveMirrors removes the mirror to the canary.
	RemoveMirrors(ctx context.Context) error
}

// Supports reports whether r can do header routes and mirroring, so that a
// strategy can reject at validation time a step its router cannot do.
func Supports(r Router) (headers, mirror bool) {
	_, headers = r.(HeaderRouter)
	_, mirror = r.(MirrorRouter)
	return headers, mirror
}

// maxConflicts is how many times an update is read and tried again after
// 409 Conflict before the conflict is returned. Conflicts mean another
// writer was quicker; reading again resolves them, so no wait is needed.
// Other transient errors are for the caller's retry (strategy.Retry).
const maxConflicts = 5

// headerRoutePrefix starts the name of the routes a router adds for a
// header route: "<prefix><name>" or, for one route per weighted route,
// "<prefix><name>.<index>".
const headerRoutePrefix = "switchyard-header."

// headerRouteName names the header route copied from the i-th weighted
// route.
func headerRouteName(name string, i int) string {
	return fmt.Sprintf("%s%s.%d", headerRoutePrefix, name, i)
}

// headerRouteOf returns the header route name of a route name, and whether
// the route is one a router added.
func headerRouteOf(routeName string) (string, bool) {
	rest, ok := strings.CutPrefix(routeName, headerRoutePrefix)
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, ".")
	return name, true
}

// checkPercent returns a *strategy.ValidationError unless 0 <= p <= 100.
func checkPercent(path string, p int32) error {
	var v strategy.Validator
	v.Check(p >= 0 && p <= 100, path, p, "must be between 0 and 100")
	return v.Err()
}

// checkHeaderRoute validates a header route's name and matches; maxMatches
// <= 0 means any number.
func checkHeaderRoute(name string, matches []HeaderMatch, maxMatches int) error {
	var v strategy.Validator
	for _, msg := range utilvalidation.IsDNS1123Label(name) {
		v.Add("headerRoute.name", name, "%s", msg)
	}
	switch {
	case len(matches) == 0:
		v.Add("headerRoute.matches", nil, "must have at least one header")
	case maxMatches > 0 && len(matches) > maxMatches:
		v.Add("headerRoute.matches", len(matches), "this router supports at most %d header", maxMatches)
	}
	for i, m := range matches {
		path := fmt.Sprintf("headerRoute.matches[%d]", i)
		for _, msg := range utilvalidation.IsHTTPHeaderName(m.Name) {
			v.Add(path+".name", m.Name, "%s", msg)
		}
		v.Check(m.Value != "", path+".value", nil, "must not be empty")
		switch m.Type {
		case "", HeaderExact, HeaderPrefix:
		case HeaderRegularExpression:
			if _, err := regexp.Compile(m.Value); err != nil {
				v.Add(path+".value", m.Value, "is not a regular expression: %v", err)
			}
		default:
			v.Add(path+".type", m.Type, "must be %s, %s or %s", HeaderExact, HeaderPrefix, HeaderRegularExpression)
		}
	}
	return v.Err()
}

// ValidateHeaderRoute checks, before any write, the arguments of a header
// route as SetHeaderRoute does: name is a DNS-1123 label; there is at
// least one match, and no more than r takes (ingress-nginx takes one; a
// nil r takes any number); header names are valid; values are not empty;
// types are known; regular expressions compile (RE2). Its errors are
// *strategy.ValidationError with paths under "headerRoute".
func ValidateHeaderRoute(r Router, name string, matches []HeaderMatch) error {
	most := 0
	if l, ok := r.(interface{ maxHeaderMatches() int }); ok {
		most = l.maxHeaderMatches()
	}
	return checkHeaderRoute(name, matches, most)
}

// ValidateMirror checks, before any write, the arguments of a mirror as
// SetMirror does: name is a DNS-1123 label and percent within 0..100. Its
// errors are *strategy.ValidationError with paths under "mirror".
func ValidateMirror(name string, percent int32) error { return checkMirror(name, percent) }

// checkMirror validates SetMirror's arguments.
func checkMirror(name string, percent int32) error {
	var v strategy.Validator
	for _, msg := range utilvalidation.IsDNS1123Label(name) {
		v.Add("mirror.name", name, "%s", msg)
	}
	v.Merge("mirror.percent", checkPercent("mirror.percent", percent))
	return v.Err()
}

// fullRegexp turns a HeaderMatch into a regular expression that must match
// the whole value; it is used where a data plane has no prefix match.
func fullRegexp(m HeaderMatch) string {
	switch m.Type {
	case HeaderPrefix:
		return regexp.QuoteMeta(m.Value) + ".*"
	case HeaderRegularExpression:
		return m.Value
	}
	return regexp.QuoteMeta(m.Value)
}

// canaryPercent is the canary's share, in whole percent rounded to
// nearest, of weights stable and canary.
func canaryPercent(stable, canary int64) int32 {
	return int32((200*canary + stable + canary) / (2 * (stable + canary)))
}

// checkServices adds a field error for each of the app's Services that
// does not exist.
func checkServices(ctx context.Context, kube kubernetes.Interface, v *strategy.Validator, ns string, paths, names []string) {
	for i, name := range names {
		if name == "" {
			v.Add(paths[i], nil, "must not be empty")
			continue
		}
		if _, err := kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			v.Add(paths[i], name, "reading Service %s/%s: %v", ns, name, err)
		}
	}
}

// customObject is one custom resource a router reads and writes through
// the dynamic client.
type customObject struct {
	dyn  dynamic.Interface
	gvr  schema.GroupVersionResource
	kind string
	key  types.NamespacedName
	// last, when not nil, keeps the object as this router last wrote it,
	// to write the next change without reading first.
	last *lastWritten
}

// lastWritten is an object as a router last stored it.
type lastWritten struct {
	mu sync.Mutex
	u  *unstructured.Unstructured
}

func (l *lastWritten) get() *unstructured.Unstructured {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.u == nil {
		return nil
	}
	return l.u.DeepCopy()
}

func (l *lastWritten) set(u *unstructured.Unstructured) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.u = u
}

func (o customObject) String() string { return o.kind + " " + o.key.String() }

func (o customObject) get(ctx context.Context) (*unstructured.Unstructured, error) {
	if o.dyn == nil {
		return nil, fmt.Errorf("reading %s: no dynamic client", o)
	}
	u, err := o.dyn.Resource(o.gvr).Namespace(o.key.Namespace).Get(ctx, o.key.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", o, err)
	}
	return u, nil
}

// update reads the object, lets mutate change it and writes it back with
// Update, which carries the resourceVersion read, so a concurrent change
// makes it fail with 409 Conflict; then it reads and mutates again, up to
// maxConflicts times. When mutate changes nothing, nothing is written.
// It returns the object as stored and whether it was written.
//
// With last, the first attempt starts from the object as last written,
// without a read: the write carries its resourceVersion, so a change made
// since fails with a conflict and the next attempt reads. A mutation that
// changes nothing on that copy is checked again on a read.
func (o customObject) update(ctx context.Context, mutate func(u *unstructured.Unstructured) error) (*unstructured.Unstructured, bool, error) {
	cached := o.last.get()
	for attempt := 0; ; attempt++ {
		u, fromCache := cached, cached != nil
		cached = nil
		if !fromCache {
			var err error
			if u, err = o.get(ctx); err != nil {
				return nil, false, err
			}
		}
		before := u.DeepCopy()
		if err := mutate(u); err != nil {
			return nil, false, err
		}
		if reflect.DeepEqual(before.Object, u.Object) {
			if fromCache {
				attempt--
				continue // read it: the copy may be behind
			}
			o.last.set(before)
			return u, false, nil
		}
		out, err := o.dyn.Resource(o.gvr).Namespace(o.key.Namespace).Update(ctx, u, metav1.UpdateOptions{})
		if err == nil {
			o.last.set(out.DeepCopy())
			return out, true, nil
		}
		o.last.set(nil)
		if !apierrors.IsConflict(err) || attempt >= maxConflicts {
			return nil, false, fmt.Errorf("updating %s: %w", o, err)
		}
	}
}

// verifyWeight reads the weight back after SetWeight wrote it.
func verifyWeight(ctx context.Context, r Router, object string, percent int32) error {
	got, err := r.Weight(ctx)
	if err != nil {
		return fmt.Errorf("verifying the canary weight: %w", err)
	}
	if got != percent {
		return fmt.Errorf("%s carries canary weight %d after setting %d: %w", object, got, percent, ErrWeightNotTaken)
	}
	return nil
}

// ErrWeightNotTaken is wrapped by SetWeight when the objects read back do
// not carry the weight written, e.g. because a webhook, controller or
// person changed them in between.
var ErrWeightNotTaken = errors.New("weight did not take")

// asInt reads a JSON number of an unstructured object; anything else is 0.
func asInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int32:
		return int64(n)
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}

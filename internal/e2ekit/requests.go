package e2ekit

import (
	"net/http"
	"strings"
	"sync"

	"github.com/switchyard-dev/switchyard/strategy"

	"k8s.io/client-go/rest"
)

// RequestCounter counts the API requests of the clients built from a
// rest.Config it wraps, by verb and by verb and resource.
type RequestCounter struct {
	mu        sync.Mutex
	byVerb    map[string]int
	byVerbRes map[string]int
	total     int
}

// NewRequestCounter returns a counter at zero.
func NewRequestCounter() *RequestCounter {
	return &RequestCounter{byVerb: map[string]int{}, byVerbRes: map[string]int{}}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Wrap returns cfg with every request counted.
func (c *RequestCounter) Wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			verb, res := Classify(r)
			c.mu.Lock()
			c.byVerb[verb]++
			c.byVerbRes[verb+" "+res]++
			c.total++
			c.mu.Unlock()
			return rt.RoundTrip(r)
		})
	})
	return cfg
}

// Snapshot returns the counts so far and starts again from zero.
func (c *RequestCounter) Snapshot() (byVerb, byVerbRes map[string]int, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	byVerb, byVerbRes, total = c.byVerb, c.byVerbRes, c.total
	c.byVerb, c.byVerbRes, c.total = map[string]int{}, map[string]int{}, 0
	return byVerb, byVerbRes, total
}

// Classify names a request's Kubernetes verb and resource from its method
// and path, as the API server's request info does for the common cases.
func Classify(r *http.Request) (verb, resource string) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
	}
	if len(rest) == 0 {
		return "discovery", r.URL.Path
	}
	if rest[0] == "namespaces" && len(rest) >= 3 {
		rest = rest[2:]
	}
	resource = rest[0]
	if len(rest) >= 3 {
		resource += "/" + rest[2] // subresource
	}
	collection := len(rest) == 1
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		switch {
		case q.Get("watch") == "true" || q.Get("watch") == "1":
			verb = "watch"
		case collection:
			verb = "list"
		default:
			verb = "get"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/apply-patch") {
			verb = "apply"
		}
	case http.MethodDelete:
		verb = "delete"
		if collection {
			verb = "deletecollection"
		}
	default:
		verb = strings.ToLower(r.Method)
	}
	return verb, resource
}

// DefaultLimit is cfg with the client-side limit strategy.NewClients sets
// when a config has none (strategy.DefaultQPS, DefaultBurst): the control
// plane's admin config allows far more, and benchmarks measure what a
// deploy service gets.
func DefaultLimit(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst, cfg.RateLimiter = strategy.DefaultQPS, strategy.DefaultBurst, nil
	return cfg
}

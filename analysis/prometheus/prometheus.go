// Package prometheus is an analysis.Provider that runs PromQL queries
// against the Prometheus HTTP API, through the official client
// (github.com/prometheus/client_golang/api/prometheus/v1).
//
// New takes the server's address and options for authentication (bearer
// token or basic auth), TLS, a timeout (default 30s, on the run's clock)
// and range queries. The metric's Query is the PromQL, a template.
//
// Results map to an analysis.Result as follows: a scalar is a value; an
// instant vector of one series (what sum(...) and other aggregations give)
// is that value, so conditions read "result < 0.05"; a vector of several
// series is a sample set with one value per series, ordered by label set; a range matrix is a sample set of every point of every
// series. An empty vector or matrix, and a NaN scalar (0/0 without
// traffic), are no data. A string result and API errors are errors, which,
// like validation messages and raw results, never show the bearer token,
// the basic auth password or the address's own secrets (see
// analysis.Redact).
package prometheus

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/strategy"
)

// DefaultTimeout bounds one query when WithTimeout is not given.
const DefaultTimeout = 30 * time.Second

// Provider queries one Prometheus server. It is safe for concurrent use.
type Provider struct {
	address string
	cfg     config
	api     v1.API
	err     error // from building the client; reported by Validate and Measure
}

var (
	_ analysis.Provider   = (*Provider)(nil)
	_ analysis.Validating = (*Provider)(nil)
)

type config struct {
	bearer         string
	user, password string
	basic          bool
	tls            *tls.Config
	timeout        time.Duration
	rng, step      time.Duration
	transport      http.RoundTripper
}

// Option configures a Provider.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithBearerToken sends "Authorization: Bearer token" with every request.
func WithBearerToken(token string) Option {
	return optionFunc(func(c *config) { c.bearer = token })
}

// WithBasicAuth sends HTTP basic authentication with every request.
func WithBasicAuth(user, password string) Option {
	return optionFunc(func(c *config) { c.user, c.password, c.basic = user, password, true })
}

// WithTLSConfig sets the TLS configuration, such as the CA that signed the
// server's certificate (RootCAs) or a client certificate.
func WithTLSConfig(cfg *tls.Config) Option {
	return optionFunc(func(c *config) { c.tls = cfg.Clone() })
}

// WithTimeout bounds each query, on the run's clock, and passes the bound
// to the server as its evaluation timeout.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.timeout = d })
}

// WithRange makes queries range queries over the last r, at resolution
// step.
func WithRange(r, step time.Duration) Option {
	return optionFunc(func(c *config) { c.rng, c.step = r, step })
}

// WithRoundTripper sets the HTTP transport (the default is a clone of
// http.DefaultTransport); authentication is added on top of it.
func WithRoundTripper(rt http.RoundTripper) Option {
	return optionFunc(func(c *config) { c.transport = rt })
}

// New returns a provider for the server at address, such as
// "http://prometheus.monitoring:9090". An unusable address is reported by
// Validate, and by Measure.
func New(address string, opts ...Option) *Provider {
	p := &Provider{address: address, cfg: config{timeout: DefaultTimeout}}
	for _, o := range opts {
		o.apply(&p.cfg)
	}
	if p.err = analysis.CheckURL(address); p.err != nil {
		return p
	}
	rt := p.cfg.transport
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if p.cfg.tls != nil {
			t.TLSClientConfig = p.cfg.tls
		}
		rt = t
	}
	switch {
	case p.cfg.basic:
		rt = &authTransport{next: rt, set: func(r *http.Request) { r.SetBasicAuth(p.cfg.user, p.cfg.password) }}
	case p.cfg.bearer != "":
		rt = &authTransport{next: rt, set: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+p.cfg.bearer) }}
	}
	client, err := api.NewClient(api.Config{Address: address, RoundTripper: rt})
	if err != nil {
		p.err = analysis.RedactError(err, p.secrets()...)
		return p
	}
	p.api = v1.NewAPI(client)
	return p
}

// secrets are the values that are never shown: the bearer token, the
// basic auth password, and the address's password and secret query values.
func (p *Provider) secrets() []string {
	out := analysis.SecretsOf(p.address, nil)
	if p.cfg.bearer != "" {
		out = append(out, p.cfg.bearer)
	}
	if p.cfg.password != "" {
		out = append(out, p.cfg.password)
	}
	return out
}

// shownAddress is the address with its secrets masked.
func (p *Provider) shownAddress() string {
	return analysis.Redact(analysis.RedactURL(p.address), p.secrets()...)
}

// Validate reports an unusable address, bad options and an empty query.
// Its messages never show the address's secrets.
func (p *Provider) Validate(v *strategy.Validator, path, query string) {
	pp := path + ".provider.prometheus"
	if p.err != nil {
		v.Add(pp+".address", p.shownAddress(), "%v", analysis.RedactError(p.err, p.secrets()...))
	}
	v.Check(p.cfg.timeout > 0, pp+".timeout", p.cfg.timeout, "must be positive")
	v.Check(p.cfg.rng >= 0, pp+".range", p.cfg.rng, "must not be negative")
	v.Check(p.cfg.rng == 0 || p.cfg.step > 0, pp+".step", p.cfg.step, "must be positive for a range query")
	v.Check(!(p.cfg.basic && p.cfg.bearer != ""), pp+".auth", nil, "set either a bearer token or basic auth, not both")
	v.Check(strings.TrimSpace(query) != "", path+".query", nil, "must not be empty")
}

// Measure runs the query at the clock's now: an instant query, or a range
// query ending now with WithRange. Its errors, and the result's Raw, never
// show the credentials or the address's secrets (see analysis.Redact):
// the errors of net/http carry the whole request URL.
func (p *Provider) Measure(ctx context.Context, q analysis.Query) (analysis.Result, error) {
	secrets := p.secrets()
	res, err := p.measure(ctx, q)
	res.Raw = analysis.Redact(res.Raw, secrets...)
	return res, analysis.RedactError(err, secrets...)
}

func (p *Provider) measure(ctx context.Context, q analysis.Query) (analysis.Result, error) {
	if p.err != nil {
		return analysis.Result{}, fmt.Errorf("prometheus address %q: %w", p.shownAddress(), p.err)
	}
	var clk clock.WithDelayedExecution = clock.RealClock{}
	if q.Input.Clock != nil {
		clk = q.Input.Clock
	}
	at := clk.Now()
	ctx, cancel := analysis.WithTimeout(ctx, clk, p.cfg.timeout)
	defer cancel()
	var (
		val      model.Value
		warnings v1.Warnings
		err      error
	)
	opt := v1.WithTimeout(p.cfg.timeout)
	if p.cfg.rng > 0 {
		val, warnings, _, err = p.api.QueryRange(ctx, q.Text, v1.Range{Start: at.Add(-p.cfg.rng), End: at, Step: p.cfg.step}, opt)
	} else {
		val, warnings, _, err = p.api.Query(ctx, q.Text, at, opt)
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", cause, err)
		}
		return analysis.Result{}, fmt.Errorf("prometheus query: %w", err)
	}
	res, err := toResult(val)
	if err != nil {
		return analysis.Result{Raw: val.String()}, err
	}
	res.Time = at
	res.Raw = val.Type().String() + ": " + val.String()
	if len(warnings) > 0 {
		res.Raw += "\nwarnings: " + strings.Join(warnings, "; ")
	}
	return res, nil
}

// toResult maps a query result to a measurement result.
func toResult(val model.Value) (analysis.Result, error) {
	switch v := val.(type) {
	case *model.Scalar:
		f := float64(v.Value)
		if math.IsNaN(f) {
			return analysis.Result{NoData: true, Reason: "the scalar is NaN"}, nil
		}
		return analysis.Result{Value: f}, nil
	case model.Vector:
		if len(v) == 0 {
			return analysis.Result{Samples: []float64{}, NoData: true, Reason: "empty vector"}, nil
		}
		sort.Slice(v, func(i, j int) bool { return v[i].Metric.Before(v[j].Metric) })
		s := make([]float64, len(v))
		nan := 0
		for i, e := range v {
			s[i] = float64(e.Value)
			if math.IsNaN(s[i]) {
				nan++
			}
		}
		if nan == len(s) {
			return analysis.Result{Samples: s, NoData: true, Reason: "every value is NaN"}, nil
		}
		if len(s) == 1 {
			// One series, as an aggregation such as sum(...) gives: a value,
			// so that conditions read "result < 0.05".
			return analysis.Result{Value: s[0]}, nil
		}
		return analysis.Result{Samples: s}, nil
	case model.Matrix:
		sort.Slice(v, func(i, j int) bool { return v[i].Metric.Before(v[j].Metric) })
		s := []float64{}
		for _, series := range v {
			for _, pt := range series.Values {
				s = append(s, float64(pt.Value))
			}
		}
		if len(s) == 0 {
			return analysis.Result{Samples: s, NoData: true, Reason: "empty range"}, nil
		}
		return analysis.Result{Samples: s}, nil
	case nil:
		return analysis.Result{NoData: true, Reason: "no result"}, nil
	}
	return analysis.Result{}, fmt.Errorf("prometheus query: unsupported result type %s", val.Type())
}

type authTransport struct {
	next http.RoundTripper
	set  func(*http.Request)
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	t.set(r)
	return t.next.RoundTrip(r)
}

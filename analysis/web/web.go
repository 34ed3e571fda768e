// Package web is an analysis.Provider that calls an HTTP endpoint and picks
// a value from its JSON response with a JSONPath expression
// (k8s.io/client-go/util/jsonpath syntax, such as "{$.data.errorRate}").
//
// New takes the URL; options set the method (GET or POST), a body,
// headers, a default JSONPath, TLS and a timeout (default 10s, on the
// run's clock). The URL, the body and header values are templates rendered
// with the run's analysis.Vars. The metric's Query is the JSONPath; when
// it is empty, the provider's WithJSONPath is used, and when that is empty
// too, the whole response.
//
// A number, a numeric string or a boolean (1 or 0) is a value; several
// matches, or an array, are a sample set. A path that matches nothing, or
// null, is no data. A response outside 2xx, a body that is not JSON, and a
// match that is not a number are errors. Errors, validation messages and
// raw results never show the URL's password or secret query values, or the
// values of secret headers such as Authorization and X-Api-Key (see
// analysis.Redact).
package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/util/jsonpath"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/strategy"
)

// DefaultTimeout bounds a request when WithTimeout is not given, as Argo
// Rollouts' web metrics do.
const DefaultTimeout = 10 * time.Second

// maxBody is the largest response read.
const maxBody = 1 << 20

// Provider calls one endpoint. It is safe for concurrent use.
type Provider struct {
	url string
	cfg config
}

var (
	_ analysis.Provider   = (*Provider)(nil)
	_ analysis.Validating = (*Provider)(nil)
)

type config struct {
	method   string
	body     string
	headers  [][2]string
	jsonPath string
	timeout  time.Duration
	client   *http.Client
}

// Option configures a Provider.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithMethod sets the HTTP method: GET (the default) or POST.
func WithMethod(m string) Option {
	return optionFunc(func(c *config) { c.method = strings.ToUpper(m) })
}

// WithBody sets the request body, a template; with a body and no method
// given, the method is POST.
func WithBody(b string) Option { return optionFunc(func(c *config) { c.body = b }) }

// WithHeader adds a request header; its value is a template.
func WithHeader(name, value string) Option {
	return optionFunc(func(c *config) { c.headers = append(c.headers, [2]string{name, value}) })
}

// WithJSONPath sets the JSONPath used when the metric's query is empty.
func WithJSONPath(p string) Option { return optionFunc(func(c *config) { c.jsonPath = p }) }

// WithTimeout bounds each request, on the run's clock.
func WithTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.timeout = d }) }

// WithTLSConfig sets the TLS configuration of the default client.
func WithTLSConfig(cfg *tls.Config) Option {
	return optionFunc(func(c *config) {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = cfg.Clone()
		c.client = &http.Client{Transport: t}
	})
}

// WithHTTPClient sets the HTTP client.
func WithHTTPClient(hc *http.Client) Option { return optionFunc(func(c *config) { c.client = hc }) }

// New returns a provider that calls rawURL, a template.
func New(rawURL string, opts ...Option) *Provider {
	p := &Provider{url: rawURL, cfg: config{timeout: DefaultTimeout}}
	for _, o := range opts {
		o.apply(&p.cfg)
	}
	if p.cfg.method == "" {
		p.cfg.method = http.MethodGet
		if p.cfg.body != "" {
			p.cfg.method = http.MethodPost
		}
	}
	if p.cfg.client == nil {
		p.cfg.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return p
}

// Validate checks the URL, the method, the timeout and the JSONPath. Its
// messages never show the URL's secrets or secret header values.
func (p *Provider) Validate(v *strategy.Validator, path, query string) {
	pp := path + ".provider.web"
	secrets := p.staticSecrets()
	shown := analysis.Redact(analysis.RedactURL(p.url), secrets...)
	if err := analysis.CheckTemplate(p.url); err != nil {
		v.Add(pp+".url", shown, "%v", analysis.RedactError(err, secrets...))
	} else if !strings.Contains(p.url, "{{") {
		if err := analysis.CheckURL(p.url); err != nil {
			v.Add(pp+".url", shown, "%v", analysis.RedactError(err, secrets...))
		}
	}
	if err := analysis.CheckTemplate(p.cfg.body); err != nil {
		v.Add(pp+".body", nil, "%v", analysis.RedactError(err, secrets...))
	}
	for _, h := range p.cfg.headers {
		if err := analysis.CheckTemplate(h[1]); err != nil {
			v.Add(pp+".headers."+h[0], nil, "%v", analysis.RedactError(err, secrets...))
		}
	}
	v.Check(p.cfg.method == http.MethodGet || p.cfg.method == http.MethodPost, pp+".method", p.cfg.method, "must be GET or POST")
	v.Check(p.cfg.timeout > 0, pp+".timeout", p.cfg.timeout, "must be positive")
	if query != "" {
		if err := jsonpath.New("query").Parse(query); err != nil {
			v.Add(path+".query", query, "JSONPath: %v", err)
		}
	} else if p.cfg.jsonPath != "" {
		if err := jsonpath.New("query").Parse(p.cfg.jsonPath); err != nil {
			v.Add(pp+".jsonPath", p.cfg.jsonPath, "%v", err)
		}
	}
}

// staticSecrets are the secrets of the provider's settings before
// rendering: those of its URL and its secret headers' values.
func (p *Provider) staticSecrets() []string {
	h := http.Header{}
	for _, kv := range p.cfg.headers {
		h.Add(kv[0], kv[1])
	}
	return analysis.SecretsOf(p.url, h)
}

// Measure calls the endpoint and picks the value. Its errors and the
// result's Raw and Reason never show the URL's password or secret query
// values, or the values of secret headers (see analysis.Redact), even when
// the server echoes them.
func (p *Provider) Measure(ctx context.Context, q analysis.Query) (analysis.Result, error) {
	secrets := p.staticSecrets()
	res, err := p.measure(ctx, q, &secrets)
	res.Raw = analysis.Redact(res.Raw, secrets...)
	res.Reason = analysis.Redact(res.Reason, secrets...)
	return res, analysis.RedactError(err, secrets...)
}

// measure does Measure's work with nothing redacted; it adds the secrets
// of the rendered request to secrets.
func (p *Provider) measure(ctx context.Context, q analysis.Query, secrets *[]string) (analysis.Result, error) {
	var clk clock.WithDelayedExecution = clock.RealClock{}
	if q.Input.Clock != nil {
		clk = q.Input.Clock
	}
	at := clk.Now()
	ctx, cancel := analysis.WithTimeout(ctx, clk, p.cfg.timeout)
	defer cancel()
	req, err := p.request(ctx, q.Vars, secrets)
	if err != nil {
		return analysis.Result{}, err
	}
	resp, err := p.cfg.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", context.Cause(ctx), err)
		}
		return analysis.Result{}, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return analysis.Result{}, fmt.Errorf("%s %s: reading the response: %w", req.Method, req.URL.Redacted(), err)
	}
	raw := string(body)
	if len(body) > maxBody {
		return analysis.Result{}, fmt.Errorf("%s %s: response larger than %d bytes", req.Method, req.URL.Redacted(), maxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return analysis.Result{Raw: raw}, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Redacted(), resp.Status, snippet(raw))
	}
	expr := q.Text
	if expr == "" {
		expr = p.cfg.jsonPath
	}
	res, err := pick(body, expr)
	if err != nil {
		return analysis.Result{Raw: raw}, err
	}
	res.Time, res.Raw = at, raw
	return res, nil
}

func (p *Provider) request(ctx context.Context, vars analysis.Vars, secrets *[]string) (*http.Request, error) {
	u, err := vars.Render(p.url)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	*secrets = append(*secrets, analysis.SecretsOf(u, nil)...)
	var body io.Reader
	if p.cfg.body != "" {
		b, err := vars.Render(p.cfg.body)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		body = bytes.NewBufferString(b)
	}
	req, err := http.NewRequestWithContext(ctx, p.cfg.method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range p.cfg.headers {
		val, err := vars.Render(h[1])
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", h[0], err)
		}
		req.Header.Set(h[0], val)
		*secrets = append(*secrets, analysis.SecretsOf("", http.Header{h[0]: {val}})...)
	}
	return req, nil
}

// pick finds the values at expr in a JSON body; the whole body when expr
// is empty.
func pick(body []byte, expr string) (analysis.Result, error) {
	var data any
	if err := json.Unmarshal(body, &data); err != nil {
		return analysis.Result{}, fmt.Errorf("response is not JSON: %w", err)
	}
	var found []any
	if expr == "" {
		found = []any{data}
	} else {
		j := jsonpath.New("query").AllowMissingKeys(true)
		if err := j.Parse(expr); err != nil {
			return analysis.Result{}, fmt.Errorf("JSONPath %q: %w", expr, err)
		}
		results, err := j.FindResults(data)
		if err != nil {
			return analysis.Result{}, fmt.Errorf("JSONPath %q: %w", expr, err)
		}
		for _, rs := range results {
			for _, r := range rs {
				if r.IsValid() && r.CanInterface() {
					found = append(found, r.Interface())
				}
			}
		}
	}
	var vals []float64
	for _, f := range found {
		if err := appendNumbers(&vals, f); err != nil {
			return analysis.Result{}, fmt.Errorf("JSONPath %q: %w", expr, err)
		}
	}
	if len(vals) == 0 {
		return analysis.Result{NoData: true, Reason: fmt.Sprintf("nothing at %s", orWhole(expr))}, nil
	}
	if len(found) == 1 && !isArray(found[0]) {
		return analysis.Result{Value: vals[0]}, nil
	}
	return analysis.Result{Samples: vals}, nil
}

func isArray(v any) bool {
	return v != nil && reflect.TypeOf(v).Kind() == reflect.Slice
}

func appendNumbers(out *[]float64, v any) error {
	switch x := v.(type) {
	case nil:
		return nil
	case float64:
		*out = append(*out, x)
	case bool:
		if x {
			*out = append(*out, 1)
		} else {
			*out = append(*out, 0)
		}
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", x)
		}
		*out = append(*out, f)
	case []any:
		for _, e := range x {
			if err := appendNumbers(out, e); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%s is not a number", snippet(fmt.Sprint(v)))
	}
	return nil
}

func orWhole(expr string) string {
	if expr == "" {
		return "the response"
	}
	return expr
}

// snippet shortens a body for a message.
func snippet(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

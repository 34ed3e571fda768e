package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/analysis/web"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

type request struct {
	method, path, query, body string
	header                    http.Header
}

// endpoint answers with status and body and records each request.
func endpoint(t *testing.T, status int, body string) (*httptest.Server, func() request) {
	var mu sync.Mutex
	var last request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = request{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, body: string(b), header: r.Header.Clone()}
		mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, func() request {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

func query(text string) analysis.Query {
	return analysis.Query{
		Text:  text,
		Vars:  analysis.Vars{Revision: "v2", Namespace: "shop", Args: map[string]string{"token": "t0k"}},
		Input: strategy.CheckInput{Clock: fake.NewClock(t0)},
	}
}

func TestPick(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		body string
		path string
		want analysis.Result
		err  string
	}{
		"number":          {body: `{"data":{"errorRate":0.071}}`, path: "{$.data.errorRate}", want: analysis.Result{Value: 0.071}},
		"numeric string":  {body: `{"data":{"p99":"0.25"}}`, path: "{.data.p99}", want: analysis.Result{Value: 0.25}},
		"boolean":         {body: `{"healthy":true}`, path: "{$.healthy}", want: analysis.Result{Value: 1}},
		"array":           {body: `{"lat":[1,2,3]}`, path: "{$.lat}", want: analysis.Result{Samples: []float64{1, 2, 3}}},
		"several matches": {body: `{"pods":[{"r":1},{"r":4}]}`, path: "{$.pods[*].r}", want: analysis.Result{Samples: []float64{1, 4}}},
		"whole body":      {body: `12`, want: analysis.Result{Value: 12}},
		"missing field":   {body: `{"data":{}}`, path: "{$.data.errorRate}", want: analysis.Result{NoData: true, Reason: "nothing at {$.data.errorRate}"}},
		"null":            {body: `{"data":{"errorRate":null}}`, path: "{$.data.errorRate}", want: analysis.Result{NoData: true, Reason: "nothing at {$.data.errorRate}"}},
		"empty array":     {body: `{"lat":[]}`, path: "{$.lat}", want: analysis.Result{NoData: true, Reason: "nothing at {$.lat}"}},
		"not a number":    {body: `{"status":"ok"}`, path: "{$.status}", err: `"ok" is not a number`},
		"object":          {body: `{"data":{"a":1}}`, path: "{$.data}", err: "is not a number"},
		"not JSON":        {body: `<html>`, path: "{$.x}", err: "response is not JSON"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, _ := endpoint(t, http.StatusOK, tc.body)
			got, err := web.New(srv.URL).Measure(context.Background(), query(tc.path))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want.Value, got.Value)
			assert.Equal(t, tc.want.Samples, got.Samples)
			assert.Equal(t, tc.want.NoData, got.NoData)
			assert.Equal(t, tc.want.Reason, got.Reason)
			assert.Equal(t, tc.body, got.Raw)
			assert.Equal(t, t0, got.Time)
		})
	}
}

func TestRequest(t *testing.T) {
	t.Parallel()
	srv, last := endpoint(t, http.StatusOK, `{"ok":1}`)

	p := web.New(srv.URL+"/metrics?ns={{.Namespace}}&v={{.Revision}}", web.WithHeader("Authorization", `Bearer {{arg "token"}}`), web.WithJSONPath("{$.ok}"))
	got, err := p.Measure(context.Background(), query(""))
	require.NoError(t, err)
	assert.Equal(t, 1.0, got.Value, "the provider's JSONPath when the query is empty")
	r := last()
	assert.Equal(t, http.MethodGet, r.method)
	assert.Equal(t, "/metrics", r.path)
	assert.Equal(t, "ns=shop&v=v2", r.query)
	assert.Equal(t, "Bearer t0k", r.header.Get("Authorization"))
	assert.Empty(t, r.body)

	p = web.New(srv.URL+"/judge", web.WithBody(`{"version":"{{.Revision}}"}`), web.WithHeader("X-Team", "checkout"))
	_, err = p.Measure(context.Background(), query("{$.ok}"))
	require.NoError(t, err)
	r = last()
	assert.Equal(t, http.MethodPost, r.method, "a body makes it a POST")
	assert.Equal(t, `{"version":"v2"}`, r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, "checkout", r.header.Get("X-Team"))

	_, err = web.New(srv.URL, web.WithMethod("post")).Measure(context.Background(), query("{$.ok}"))
	require.NoError(t, err)
	assert.Equal(t, http.MethodPost, last().method)
}

func TestNon2xxIsAnError(t *testing.T) {
	t.Parallel()
	srv, _ := endpoint(t, http.StatusServiceUnavailable, `{"error":"warming up"}`)
	got, err := web.New(srv.URL).Measure(context.Background(), query("{$.x}"))
	require.ErrorContains(t, err, "503 Service Unavailable: {\"error\":\"warming up\"}")
	assert.Equal(t, `{"error":"warming up"}`, got.Raw)

	p := web.New(srv.URL)
	a := analysis.Analysis{Name: "a", Metrics: []analysis.Metric{{Name: "web", Provider: p, Query: "{$.x}"}}}
	clk := fake.NewClock(t0)
	clk.SetAutoAdvance(true)
	idle, _, done := clk.Track()
	idle()
	defer func() { done(); clk.SetAutoAdvance(false) }()
	rep, err := a.Run(context.Background(), strategy.CheckInput{Clock: clk})
	require.NoError(t, err)
	assert.Equal(t, analysis.PhaseError, rep.Phase)
	assert.Equal(t, 5, rep.Metrics[0].Error, "retried until the consecutive error limit")
}

func TestMissingFieldIsNoDataInAnAnalysis(t *testing.T) {
	t.Parallel()
	srv, _ := endpoint(t, http.StatusOK, `{"data":{}}`)
	clk := fake.NewClock(t0)
	clk.SetAutoAdvance(true)
	idle, _, done := clk.Track()
	idle()
	defer func() { done(); clk.SetAutoAdvance(false) }()
	a := analysis.Analysis{Name: "a", Metrics: []analysis.Metric{{Name: "web", Provider: web.New(srv.URL), Query: "{$.data.rate}", Success: analysis.Below(1)}}}
	rep, err := a.Run(context.Background(), strategy.CheckInput{Clock: clk})
	require.NoError(t, err)
	assert.Equal(t, analysis.PhaseInconclusive, rep.Phase)
	assert.Equal(t, "metric web was inconclusive 1 of 1 times (limit 0): no data: nothing at {$.data.rate}", rep.Message)
}

func TestTimeoutFollowsTheClock(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	defer close(release)
	q := query("{$.x}")
	clk := q.Input.Clock.(*fake.Clock)
	errc := make(chan error, 1)
	go func() {
		_, err := web.New(srv.URL).Measure(context.Background(), q)
		errc <- err
	}()
	<-arrived
	clk.Step(web.DefaultTimeout)
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, "timed out after 10s")
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not time out on the fake clock")
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"v":3}`)) }))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	got, err := web.New(srv.URL, web.WithTLSConfig(&tls.Config{RootCAs: pool})).Measure(context.Background(), query("{$.v}"))
	require.NoError(t, err)
	assert.Equal(t, 3.0, got.Value)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		url   string
		opts  []web.Option
		query string
		paths []string
	}{
		"valid":                {url: "http://judge/metrics?v={{.Revision}}", query: "{$.x}"},
		"bad scheme":           {url: "judge:80/metrics", paths: []string{"m.provider.web.url"}},
		"bad template":         {url: "http://judge/{{.Revision", paths: []string{"m.provider.web.url"}},
		"bad method":           {url: "http://judge", opts: []web.Option{web.WithMethod("DELETE")}, paths: []string{"m.provider.web.method"}},
		"zero timeout":         {url: "http://judge", opts: []web.Option{web.WithTimeout(0)}, paths: []string{"m.provider.web.timeout"}},
		"bad JSONPath query":   {url: "http://judge", query: "{$.x", paths: []string{"m.query"}},
		"bad default JSONPath": {url: "http://judge", opts: []web.Option{web.WithJSONPath("{.a[}")}, paths: []string{"m.provider.web.jsonPath"}},
		"bad body template":    {url: "http://judge", opts: []web.Option{web.WithBody("{{")}, paths: []string{"m.provider.web.body"}},
		"bad header template":  {url: "http://judge", opts: []web.Option{web.WithHeader("X", "{{end}}")}, paths: []string{"m.provider.web.headers.X"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var v strategy.Validator
			web.New(tc.url, tc.opts...).Validate(&v, "m", tc.query)
			err := v.Err()
			if len(tc.paths) == 0 {
				require.NoError(t, err)
				return
			}
			var ve *strategy.ValidationError
			require.True(t, errors.As(err, &ve), "%v", err)
			for _, p := range tc.paths {
				assert.True(t, ve.Has(p), "missing %s in %v", p, err)
			}
		})
	}
}

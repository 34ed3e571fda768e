package prometheus_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/analysis/prometheus"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// server is a Prometheus HTTP API that answers every query with body and
// status, and records the requests it saw.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	body   string
	seen   []seen
}

type seen struct {
	path   string
	form   url.Values
	header http.Header
}

func newServer(t *testing.T, tlsServer bool, status int, body string) *server {
	s := &server{status: status, body: body}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		s.mu.Lock()
		s.seen = append(s.seen, seen{path: r.URL.Path, form: r.Form, header: r.Header.Clone()})
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-certificate case logs a handshake error
	if tlsServer {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

func (s *server) last(t *testing.T) seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(t, s.seen)
	return s.seen[len(s.seen)-1]
}

func query(clk *fake.Clock, text string) analysis.Query {
	return analysis.Query{Text: text, Input: strategy.CheckInput{Clock: clk}}
}

const (
	vector = `{"status":"success","data":{"resultType":"vector","result":[
		{"metric":{"version":"v2"},"value":[1772366400,"0.071"]},
		{"metric":{"version":"v1"},"value":[1772366400,"0.01"]}]}}`
	scalar    = `{"status":"success","data":{"resultType":"scalar","result":[1772366400,"42.5"]}}`
	nanScalar = `{"status":"success","data":{"resultType":"scalar","result":[1772366400,"NaN"]}}`
	matrix    = `{"status":"success","data":{"resultType":"matrix","result":[
		{"metric":{"version":"v2"},"values":[[1772366340,"3"],[1772366370,"4"],[1772366400,"5"]]},
		{"metric":{"version":"v1"},"values":[[1772366400,"1"]]}]}}`
	emptyVector = `{"status":"success","data":{"resultType":"vector","result":[]}}`
	emptyMatrix = `{"status":"success","data":{"resultType":"matrix","result":[]}}`
	stringRes   = `{"status":"success","data":{"resultType":"string","result":[1772366400,"hello"]}}`
	badData     = `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}`
	warning     = `{"status":"success","warnings":["partial data"],"data":{"resultType":"scalar","result":[1772366400,"1"]}}`
)

func TestMeasure(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		status int
		body   string
		opts   []prometheus.Option
		want   analysis.Result
		err    string
		path   string
	}{
		"instant vector, one value a series, by labels": {body: vector, want: analysis.Result{Samples: []float64{0.01, 0.071}}},
		"scalar":     {body: scalar, want: analysis.Result{Value: 42.5}},
		"NaN scalar": {body: nanScalar, want: analysis.Result{NoData: true, Reason: "the scalar is NaN"}},
		"range":      {body: matrix, opts: []prometheus.Option{prometheus.WithRange(time.Minute, 30*time.Second)}, want: analysis.Result{Samples: []float64{1, 3, 4, 5}}, path: "/api/v1/query_range"},
		"instant vector of one series is a value": {body: `{"status":"success","data":{"resultType":"vector","result":[
			{"metric":{},"value":[1700000000,"0.042"]}]}}`, want: analysis.Result{Value: 0.042}},
		"empty vector":   {body: emptyVector, want: analysis.Result{Samples: []float64{}, NoData: true, Reason: "empty vector"}},
		"empty range":    {body: emptyMatrix, opts: []prometheus.Option{prometheus.WithRange(time.Minute, time.Second)}, want: analysis.Result{Samples: []float64{}, NoData: true, Reason: "empty range"}, path: "/api/v1/query_range"},
		"string":         {body: stringRes, err: `unexpected value type "string"`},
		"error response": {status: http.StatusBadRequest, body: badData, err: "bad_data: 1:5: parse error"},
		"server error":   {status: http.StatusServiceUnavailable, body: `{"status":"error","errorType":"unavailable","error":"overloaded"}`, err: "server error: 503"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if tc.status == 0 {
				tc.status = http.StatusOK
			}
			if tc.path == "" {
				tc.path = "/api/v1/query"
			}
			srv := newServer(t, false, tc.status, tc.body)
			clk := fake.NewClock(t0)
			got, err := prometheus.New(srv.URL, tc.opts...).Measure(context.Background(), query(clk, `sum(rate(errors[1m]))`))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want.Value, got.Value)
			assert.Equal(t, tc.want.Samples, got.Samples)
			assert.Equal(t, tc.want.NoData, got.NoData)
			assert.Equal(t, tc.want.Reason, got.Reason)
			assert.Equal(t, t0, got.Time)
			assert.NotEmpty(t, got.Raw)

			req := srv.last(t)
			assert.Equal(t, tc.path, req.path)
			assert.Equal(t, "sum(rate(errors[1m]))", req.form.Get("query"))
			assert.Equal(t, "30s", req.form.Get("timeout"))
			if tc.path == "/api/v1/query" {
				assert.Equal(t, strconv.FormatInt(t0.Unix(), 10), req.form.Get("time"), "queried at the fake clock's now")
			} else {
				assert.Equal(t, strconv.FormatInt(t0.Unix(), 10), req.form.Get("end"))
				assert.NotEmpty(t, req.form.Get("start"))
				assert.NotEmpty(t, req.form.Get("step"))
			}
		})
	}
}

func TestWarningsAreKept(t *testing.T) {
	t.Parallel()
	srv := newServer(t, false, http.StatusOK, warning)
	got, err := prometheus.New(srv.URL).Measure(context.Background(), query(fake.NewClock(t0), "up"))
	require.NoError(t, err)
	assert.Contains(t, got.Raw, "warnings: partial data")
}

func TestAuth(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		opt  prometheus.Option
		want string
	}{
		"bearer": {opt: prometheus.WithBearerToken("s3cret"), want: "Bearer s3cret"},
		"basic":  {opt: prometheus.WithBasicAuth("ops", "pw"), want: "Basic b3BzOnB3"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, false, http.StatusOK, scalar)
			_, err := prometheus.New(srv.URL, tc.opt).Measure(context.Background(), query(fake.NewClock(t0), "up"))
			require.NoError(t, err)
			assert.Equal(t, tc.want, srv.last(t).header.Get("Authorization"))
		})
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	srv := newServer(t, true, http.StatusOK, scalar)
	q := query(fake.NewClock(t0), "up")

	_, err := prometheus.New(srv.URL).Measure(context.Background(), q)
	require.Error(t, err, "the test server's certificate is not trusted by default")

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	got, err := prometheus.New(srv.URL, prometheus.WithTLSConfig(&tls.Config{RootCAs: pool}), prometheus.WithBearerToken("t")).Measure(context.Background(), q)
	require.NoError(t, err)
	assert.Equal(t, 42.5, got.Value)
	assert.Equal(t, "Bearer t", srv.last(t).header.Get("Authorization"))
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
	clk := fake.NewClock(t0)
	errc := make(chan error, 1)
	go func() {
		_, err := prometheus.New(srv.URL, prometheus.WithTimeout(5*time.Second)).Measure(context.Background(), query(clk, "up"))
		errc <- err
	}()
	<-arrived
	clk.Step(5 * time.Second)
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, "timed out after 5s")
	case <-time.After(10 * time.Second):
		t.Fatal("the query did not time out on the fake clock")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		address string
		opts    []prometheus.Option
		query   string
		paths   []string
	}{
		"valid":              {address: "http://prometheus:9090", query: "up"},
		"no scheme":          {address: "prometheus:9090", query: "up", paths: []string{"m.provider.prometheus.address"}},
		"unparsable":         {address: "http://[::1", query: "up", paths: []string{"m.provider.prometheus.address"}},
		"no host":            {address: "https://", query: "up", paths: []string{"m.provider.prometheus.address"}},
		"empty query":        {address: "http://p", query: " ", paths: []string{"m.query"}},
		"zero timeout":       {address: "http://p", query: "up", opts: []prometheus.Option{prometheus.WithTimeout(0)}, paths: []string{"m.provider.prometheus.timeout"}},
		"range without step": {address: "http://p", query: "up", opts: []prometheus.Option{prometheus.WithRange(time.Minute, 0)}, paths: []string{"m.provider.prometheus.step"}},
		"two kinds of auth": {address: "http://p", query: "up", opts: []prometheus.Option{prometheus.WithBasicAuth("a", "b"), prometheus.WithBearerToken("c")},
			paths: []string{"m.provider.prometheus.auth"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var v strategy.Validator
			prometheus.New(tc.address, tc.opts...).Validate(&v, "m", tc.query)
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

func TestBadAddressFailsTheAnalysisSpec(t *testing.T) {
	t.Parallel()
	a := analysis.Analysis{Name: "a", Metrics: []analysis.Metric{{Name: "errors", Provider: prometheus.New("prometheus:9090"), Query: "up"}}}
	var v strategy.Validator
	a.Validate(&v, "spec")
	var ve *strategy.ValidationError
	require.ErrorAs(t, v.Err(), &ve)
	assert.True(t, ve.Has("spec.metrics[0].provider.prometheus.address"), ve.Error())

	_, err := prometheus.New("prometheus:9090").Measure(context.Background(), query(fake.NewClock(t0), "up"))
	require.Error(t, err)
}

func TestInAnAnalysis(t *testing.T) {
	t.Parallel()
	srv := newServer(t, false, http.StatusOK, `{"status":"success","data":{"resultType":"vector","result":[
		{"metric":{},"value":[1772366400,"0.071"]}]}}`)
	clk := fake.NewClock(t0)
	clk.SetAutoAdvance(true)
	idle, _, done := clk.Track()
	idle()
	defer func() { done(); clk.SetAutoAdvance(false) }()

	a := analysis.Analysis{Name: "post", Metrics: []analysis.Metric{{
		Name:         "error-rate",
		Provider:     prometheus.New(srv.URL),
		Query:        `sum(rate(http_errors{namespace="{{.Namespace}}",version="{{.Revision}}"}[1m]))`,
		Interval:     time.Minute,
		Count:        3,
		FailureLimit: 1,
		Failure:      analysis.Expr("result > 0.05"),
	}}}
	in := strategy.CheckInput{Clock: clk, Release: strategy.Release{App: types.NamespacedName{Namespace: "shop", Name: "cart"}, Revision: "v2"}}
	rep, err := a.Run(context.Background(), in)
	require.NoError(t, err)
	assert.Equal(t, analysis.PhaseFailed, rep.Phase)
	assert.Equal(t, `metric error-rate failed 2 of 2 times (limit 1): result 0.071 > 0.05`, rep.Message)
	assert.Equal(t, `sum(rate(http_errors{namespace="shop",version="v2"}[1m]))`, srv.last(t).form.Get("query"))
	assert.Equal(t, strconv.FormatInt(t0.Add(time.Minute).Unix(), 10), srv.last(t).form.Get("time"))
}

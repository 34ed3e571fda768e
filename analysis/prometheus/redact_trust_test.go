package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/analysis/prometheus"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

const (
	secretQuery    = "Q7secretQueryValue"
	secretPassword = "P4sswordInTheURL"
	secretBearer   = "B3arerTokenValue"
	secretBasic    = "B4sicPasswordValue"
)

var secrets = []string{secretQuery, secretPassword, secretBearer, secretBasic}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range secrets {
		assert.NotContains(t, text, s, "%s shows a secret: %s", what, text)
	}
}

// assertErrNoSecret checks err's text and that of every error it wraps.
func assertErrNoSecret(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	assertNoSecret(t, "the error", err.Error())
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		assertNoSecret(t, "a wrapped error", e.Error())
	}
}

// withSecrets puts a password and a secret query parameter in base.
func withSecrets(base string) string {
	return strings.Replace(base, "http://", "http://ops:"+secretPassword+"@", 1) + "/?api_key=" + secretQuery
}

func TestSecretsAreNeverShown(t *testing.T) {
	t.Parallel()
	refused := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		return "http://" + addr
	}
	// echo answers with status and a body that repeats the request URL and
	// its Authorization header.
	echo := func(status int, format string) func(t *testing.T) string {
		return func(t *testing.T) string {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = fmt.Fprintf(w, format, r.URL.String()+" "+r.Header.Get("Authorization"))
			}))
			t.Cleanup(srv.Close)
			return srv.URL
		}
	}
	tests := map[string]struct {
		base func(t *testing.T) string
		opt  prometheus.Option
	}{
		"connection refused, bearer":   {base: refused, opt: prometheus.WithBearerToken(secretBearer)},
		"connection refused, basic":    {base: refused, opt: prometheus.WithBasicAuth("ops", secretBasic)},
		"API error echoing the URL":    {base: echo(http.StatusBadRequest, `{"status":"error","errorType":"bad_data","error":"%s"}`), opt: prometheus.WithBearerToken(secretBearer)},
		"server error echoing the URL": {base: echo(http.StatusBadGateway, `upstream %s`), opt: prometheus.WithBearerToken(secretBearer)},
		"bad JSON":                     {base: echo(http.StatusOK, `{"status":"success","data":%q`), opt: prometheus.WithBasicAuth("ops", secretBasic)},
		"warnings echoing the URL":     {base: echo(http.StatusOK, `{"status":"success","warnings":["%s"],"data":{"resultType":"scalar","result":[0,"1"]}}`), opt: prometheus.WithBearerToken(secretBearer)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := prometheus.New(withSecrets(tc.base(t)), tc.opt)
			res, err := p.Measure(context.Background(), query(fake.NewClock(t0), "up"))
			assertNoSecret(t, "the raw result", res.Raw)
			if strings.HasPrefix(name, "warnings") {
				require.NoError(t, err)
				assert.Contains(t, res.Raw, "warnings: ")
				return
			}
			assertErrNoSecret(t, err)

			var mu sync.Mutex
			var events []strategy.Event
			in := strategy.CheckInput{Clock: fake.NewClock(t0), Emit: func(e strategy.Event) {
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
			}}
			a := analysis.Analysis{Name: "a", Metrics: []analysis.Metric{{Name: "prom", Provider: p, Query: "up", ConsecutiveErrorLimit: ptr.To(0)}}}
			rep, err := a.Run(context.Background(), in)
			require.NoError(t, err)
			require.Equal(t, analysis.PhaseError, rep.Phase)
			assertNoSecret(t, "the report", rep.Message)
			for _, m := range rep.Metrics[0].Measurements {
				assertNoSecret(t, "a measurement", m.Message)
				assertNoSecret(t, "a measurement's raw result", m.Raw)
			}
			mu.Lock()
			defer mu.Unlock()
			require.NotEmpty(t, events)
			for _, e := range events {
				assertNoSecret(t, "an event", e.Message)
				assertNoSecret(t, "an event's measurement", e.Measurement.Message)
			}
		})
	}
}

func TestSecretsAreNeverShownOnTimeout(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
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
		_, err := prometheus.New(withSecrets(srv.URL), prometheus.WithTimeout(5*time.Second), prometheus.WithBearerToken(secretBearer)).
			Measure(context.Background(), query(clk, "up"))
		errc <- err
	}()
	<-arrived
	clk.Step(5 * time.Second)
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assertErrNoSecret(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the query did not time out on the fake clock")
	}
}

func TestSecretsAreNeverShownForABadAddress(t *testing.T) {
	t.Parallel()
	p := prometheus.New("http://ops:"+secretPassword+"@prometheus:port/?api_key="+secretQuery, prometheus.WithBearerToken(secretBearer))
	var v strategy.Validator
	p.Validate(&v, "m", "up")
	err := v.Err()
	require.Error(t, err)
	assert.ErrorContains(t, err, "m.provider.prometheus.address")
	assertErrNoSecret(t, err)
	_, err = p.Measure(context.Background(), query(fake.NewClock(t0), "up"))
	assertErrNoSecret(t, err)
}

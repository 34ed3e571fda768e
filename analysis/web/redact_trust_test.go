package web_test

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
	"github.com/switchyard-dev/switchyard/analysis/web"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// The secrets a Web metric carries; none may ever be shown.
const (
	secretQuery    = "Q7secretQueryValue"
	secretPassword = "P4sswordInTheURL"
	secretHeader   = "H3aderApiKeyValue"
	secretBearer   = "B3arerTokenValue"
)

var secrets = []string{secretQuery, secretPassword, secretHeader, secretBearer}

// assertNoSecret fails when text shows any of the secrets.
func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range secrets {
		assert.NotContains(t, text, s, "%s shows a secret: %s", what, text)
	}
}

// echo answers with status and a body that repeats the request line and
// its headers, as error pages and debugging proxies do.
func echo(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "%s%s %s X-Api-Key=%s Authorization=%q", body, r.Method, r.URL.String(),
			r.Header.Get("X-Api-Key"), r.Header.Get("Authorization"))
	}
}

// secretProvider calls base with a password, a secret query parameter and
// two secret headers.
func secretProvider(base string, opts ...web.Option) *web.Provider {
	u := strings.Replace(base, "http://", "http://analyst:"+secretPassword+"@", 1) +
		"/api/v1/rate?api_key=" + secretQuery + "&ns={{.Namespace}}"
	return web.New(u, append([]web.Option{
		web.WithHeader("X-Api-Key", secretHeader),
		web.WithHeader("Authorization", "Bearer "+secretBearer),
	}, opts...)...)
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
	serve := func(h http.Handler) func(t *testing.T) string {
		return func(t *testing.T) string {
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			return srv.URL
		}
	}
	tests := map[string]struct {
		base func(t *testing.T) string
		err  string // part of the error that shows what went wrong
	}{
		"connection refused": {base: refused, err: "connect"},
		"server error":       {base: serve(echo(http.StatusInternalServerError, "boom: ")), err: "500 Internal Server Error"},
		"unauthorized":       {base: serve(echo(http.StatusUnauthorized, "")), err: "401 Unauthorized"},
		"bad JSON":           {base: serve(echo(http.StatusOK, "<html>")), err: "not JSON"},
		"JSON echo": {base: serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = fmt.Fprintf(w, `{"rate":"%s"}`, r.URL.Query().Get("api_key"))
		})), err: "is not a number"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := secretProvider(tc.base(t))

			res, err := p.Measure(context.Background(), query("{$.rate}"))
			require.Error(t, err)
			assert.ErrorContains(t, err, tc.err)
			assertNoSecret(t, "the error", err.Error())
			assertNoSecret(t, "the raw result", res.Raw)
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				assertNoSecret(t, "a wrapped error", e.Error())
			}

			var mu sync.Mutex
			var events []strategy.Event
			in := strategy.CheckInput{Clock: fake.NewClock(t0), Emit: func(e strategy.Event) {
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
			}}
			a := analysis.Analysis{Name: "a", Metrics: []analysis.Metric{{Name: "web", Provider: p, Query: "{$.rate}", ConsecutiveErrorLimit: ptr.To(0)}}}
			rep, err := a.Run(context.Background(), in)
			require.NoError(t, err)
			require.Equal(t, analysis.PhaseError, rep.Phase)
			assertNoSecret(t, "the report", rep.Message)
			for _, m := range rep.Metrics[0].Measurements {
				assert.Contains(t, m.Message, tc.err)
				assertNoSecret(t, "a measurement", m.Message)
				assertNoSecret(t, "a measurement's raw result", m.Raw)
			}
			checkErr := a.Check().Func(context.Background(), in)
			require.Error(t, checkErr)
			assertNoSecret(t, "the check's error", checkErr.Error())
			mu.Lock()
			defer mu.Unlock()
			require.NotEmpty(t, events)
			for _, e := range events {
				assertNoSecret(t, "an event", e.Message)
				require.NotNil(t, e.Measurement)
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
	q := query("{$.x}")
	clk := q.Input.Clock.(*fake.Clock)
	errc := make(chan error, 1)
	go func() {
		_, err := secretProvider(srv.URL).Measure(context.Background(), q)
		errc <- err
	}()
	<-arrived
	clk.Step(web.DefaultTimeout)
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.DeadlineExceeded, "redaction keeps what the error matches")
		assert.ErrorContains(t, err, "timed out after 10s")
		assertNoSecret(t, "the error", err.Error())
		for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
			assertNoSecret(t, "a wrapped error", e.Error())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not time out on the fake clock")
	}
}

func TestSecretsAreNeverShownByValidation(t *testing.T) {
	t.Parallel()
	for name, u := range map[string]string{
		"bad scheme":   "ftp://analyst:" + secretPassword + "@judge/?api_key=" + secretQuery,
		"bad template": "http://judge/{{.Revision?token=" + secretQuery,
		"bad port":     "http://analyst:" + secretPassword + "@judge:port/x?access_token=" + secretQuery,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var v strategy.Validator
			web.New(u).Validate(&v, "m", "{$.x}")
			err := v.Err()
			require.Error(t, err)
			assert.ErrorContains(t, err, "m.provider.web.url")
			assertNoSecret(t, "the validation error", err.Error())
		})
	}
	_, err := web.New("http://analyst:"+secretPassword+"@judge:port/x?api_key="+secretQuery).Measure(context.Background(), query("{$.x}"))
	require.Error(t, err)
	assertNoSecret(t, "the error of an unparsable URL", err.Error())
}

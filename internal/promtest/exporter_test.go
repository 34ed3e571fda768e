package promtest

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// step is one change of a version's traffic followed by time passing.
type step struct {
	rps     float64 // negative: leave the rate as it is
	errRate float64 // negative: leave the error rate as it is
	elapse  time.Duration
}

func TestExporterCounts(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		steps        []step
		wantRequests int64
		wantErrors   int64
	}{
		"no traffic before SetRate": {
			steps: []step{{rps: -1, errRate: 0.5, elapse: time.Minute}},
		},
		"20% of 50 rps for 10s": {
			steps:        []step{{rps: 50, errRate: 0.2, elapse: 10 * time.Second}},
			wantRequests: 500, wantErrors: 100,
		},
		"no errors": {
			steps:        []step{{rps: 10, errRate: 0, elapse: 3 * time.Second}},
			wantRequests: 30,
		},
		"fractional rate rounds down": {
			steps:        []step{{rps: 2.5, errRate: 1.0 / 3, elapse: 3 * time.Second}},
			wantRequests: 7, wantErrors: 2,
		},
		"every request fails": {
			steps:        []step{{rps: 4, errRate: 1, elapse: 2 * time.Second}},
			wantRequests: 8, wantErrors: 8,
		},
		"rate change keeps the requests already due": {
			steps: []step{
				{rps: 10, errRate: 0.5, elapse: 1500 * time.Millisecond},
				{rps: 100, errRate: -1, elapse: time.Second},
			},
			wantRequests: 15 + 100, wantErrors: 7 + 50,
		},
		"error rate change applies to later requests only": {
			steps: []step{
				{rps: 10, errRate: 0, elapse: 2 * time.Second},
				{rps: -1, errRate: 0.1, elapse: 3 * time.Second},
			},
			wantRequests: 50, wantErrors: 3,
		},
		"zero rate stops the traffic": {
			steps: []step{
				{rps: 10, errRate: 0.2, elapse: time.Second},
				{rps: 0, errRate: -1, elapse: time.Minute},
			},
			wantRequests: 10, wantErrors: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := clocktesting.NewFakeClock(t0)
			e, err := NewExporter("checkout", WithClock(clk))
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, e.Stop()) })
			for _, s := range tc.steps {
				if s.errRate >= 0 {
					e.SetErrorRate("v2", s.errRate)
				}
				if s.rps >= 0 {
					e.SetRate("v2", s.rps)
				}
				clk.Step(s.elapse)
			}
			requests, failed := e.Counts("v2")
			assert.Equal(t, tc.wantRequests, requests, "requests")
			assert.Equal(t, tc.wantErrors, failed, "errors")
		})
	}
}

func TestExporterServesCounters(t *testing.T) {
	t.Parallel()
	clk := clocktesting.NewFakeClock(t0)
	e, err := NewExporter("checkout", WithClock(clk))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, e.Stop()) })
	e.SetRate("v1", 10)
	e.SetRate("v2", 20)
	e.SetErrorRate("v2", 0.25)
	clk.Step(2 * time.Second)

	body := get(t, e.URL())
	for _, line := range []string{
		`http_requests_total{app="checkout",code="200",version="v1"} 20`,
		`http_requests_total{app="checkout",code="500",version="v1"} 0`,
		`http_requests_total{app="checkout",code="200",version="v2"} 30`,
		`http_requests_total{app="checkout",code="500",version="v2"} 10`,
	} {
		assert.Contains(t, body, line+"\n")
	}

	// A scrape brings the counts up to the clock without a read in between.
	clk.Step(time.Second)
	assert.Contains(t, get(t, e.URL()), `http_requests_total{app="checkout",code="200",version="v1"} 30`+"\n")
}

func TestExporterStop(t *testing.T) {
	t.Parallel()
	clk := clocktesting.NewFakeClock(t0)
	e, err := NewExporter("checkout", WithClock(clk))
	require.NoError(t, err)
	e.SetRate("v1", 10)
	clk.Step(time.Second)
	require.NoError(t, e.Stop())
	require.NoError(t, e.Stop(), "a second Stop")

	clk.Step(time.Minute)
	requests, _ := e.Counts("v1")
	assert.Equal(t, int64(10), requests, "no traffic after Stop")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.URL(), nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_ = resp.Body.Close()
	}
	assert.Error(t, err, "the metrics server is closed")
}

func TestExporterRejectsBadRates(t *testing.T) {
	t.Parallel()
	e, err := NewExporter("checkout")
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, e.Stop()) })
	assert.Panics(t, func() { e.SetRate("v1", -1) })
	assert.Panics(t, func() { e.SetErrorRate("v1", 1.5) })
	assert.Panics(t, func() { e.SetErrorRate("v1", -0.1) })
	assert.NotPanics(t, func() { e.SetErrorRate("v1", 1) })
}

func TestErrorRatioQuery(t *testing.T) {
	t.Parallel()
	want := `sum(rate(http_requests_total{app="checkout",version="v2",code=~"5.."}[10s])) / ` +
		`sum(rate(http_requests_total{app="checkout",version="v2"}[10s]))`
	assert.Equal(t, want, ErrorRatioQuery("checkout", "v2", 10*time.Second))
}

func TestConfig(t *testing.T) {
	t.Parallel()
	want := "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n" +
		"scrape_configs:\n  - job_name: promtest\n    static_configs:\n" +
		"      - targets: [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n"
	assert.Equal(t, want, config([]string{"127.0.0.1:1", "127.0.0.1:2"}))
}

// get returns the body of a GET of url.
func get(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

package promtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/switchyard-dev/switchyard/internal/controlplane"
)

// TestPrometheusErrorRatio runs the exporter and a real Prometheus: v2 fails
// 20% of its requests and v1 none, and PromQL must see exactly that.
func TestPrometheusErrorRatio(t *testing.T) {
	t.Parallel()
	e, err := NewExporter("checkout")
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, e.Stop()) })
	s := Start(t, e.Addr())
	prom := s.API()
	// Traffic starts once Prometheus is up, not during a first build.
	for _, v := range []string{"v1", "v2"} {
		e.SetErrorRate(v, 0)
		e.SetRate(v, 50)
	}
	e.SetErrorRate("v2", 0.2)
	ctx, cancel := context.WithTimeout(t.Context(), 25*time.Second)
	defer cancel()

	// Wait until the 10s window holds at least five scrapes of each version,
	// so that both rates rest on several seconds of traffic.
	enough := `min(count_over_time(http_requests_total{app="checkout",code="500"}[10s])) >= 5`
	err = wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		v, err := query(ctx, prom, enough)
		if err != nil {
			return false, err
		}
		return len(v) == 1, nil
	})
	require.NoError(t, err, "waiting for five scrapes of the exporter at %s", e.Addr())

	v2, err := query(ctx, prom, ErrorRatioQuery("checkout", "v2", 10*time.Second))
	require.NoError(t, err)
	require.Len(t, v2, 1, "v2 error ratio")
	assert.InDelta(t, 0.2, float64(v2[0].Value), 0.02, "v2 error ratio")

	v1, err := query(ctx, prom, ErrorRatioQuery("checkout", "v1", 10*time.Second))
	require.NoError(t, err)
	require.Len(t, v1, 1, "v1 error ratio")
	assert.Zero(t, float64(v1[0].Value), "v1 error ratio")

	// rate divides by the whole window, which is not full yet; irate uses
	// the last two scrapes.
	rps, err := query(ctx, prom, `sum(irate(http_requests_total{app="checkout",version="v2"}[10s]))`)
	require.NoError(t, err)
	require.Len(t, rps, 1, "v2 request rate")
	assert.InEpsilon(t, 50, float64(rps[0].Value), 0.2, "v2 requests per second")

	t.Logf("v2 error ratio %.4f, v1 error ratio %.4f, v2 %.1f requests/s", v2[0].Value, v1[0].Value, rps[0].Value)

	up, err := query(ctx, prom, `up{job="promtest"}`)
	require.NoError(t, err)
	require.Len(t, up, 1, "one target")
	assert.Equal(t, e.Addr(), string(up[0].Metric["instance"]))
	assert.Equal(t, 1.0, float64(up[0].Value), "target up")
}

// TestEnsurePrometheusCached checks that a second Ensure reuses the binary.
func TestEnsurePrometheusCached(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("skipping in -short mode: the first run builds Prometheus")
	}
	first, _, err := controlplane.EnsurePrometheus(t.Context())
	require.NoError(t, err)
	second, built, err := controlplane.EnsurePrometheus(t.Context())
	require.NoError(t, err)
	assert.False(t, built, "second Ensure built again")
	assert.Equal(t, first, second)
	st, err := os.Stat(second)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&0o100, "binary is executable")
}

// query runs an instant query that must return a vector.
func query(ctx context.Context, prom promv1.API, q string) (model.Vector, error) {
	v, _, _, err := prom.Query(ctx, q, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("querying %s: %w", q, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("querying %s: got %s, want a vector", q, v.Type())
	}
	return vec, nil
}

// TestStartServerReportsEarlyExit checks that a server that dies at start
// fails Start at once with the end of its log.
func TestStartServerReportsEarlyExit(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("skipping in -short mode: the first run builds Prometheus")
	}
	began := time.Now()
	s, err := StartServer(t.Context(), "127.0.0.1:1/not-a-host")
	if err == nil {
		_ = s.Stop()
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "prometheus exited early")
	assert.Contains(t, err.Error(), "not a valid hostname", "the log tail names the bad target")
	assert.Less(t, time.Since(began), startTimeout, "the exit is noticed before the start timeout")
}

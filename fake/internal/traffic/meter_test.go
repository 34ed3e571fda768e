package traffic

import (
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func behave(v string) Version {
	switch v {
	case "v1":
		return Version{ErrorRate: 0.01, Latency: 100 * time.Millisecond}
	case "v2":
		return Version{ErrorRate: 0.2, Latency: 300 * time.Millisecond}
	}
	return Version{}
}

// run records rps for n one-second steps ending at t0+n s.
func run(m *Meter, n int, rps float64, serve map[string]float64) {
	for i := 1; i <= n; i++ {
		m.Record(t0.Add(time.Duration(i)*time.Second), time.Second, rps, serve, behave)
	}
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %v, want %v ± %v", what, got, want, tol)
	}
}

func TestMeterCounters(t *testing.T) {
	t.Parallel()
	m := NewMeter(1)
	run(m, 60, 100, map[string]float64{"v1": 0.98, "v2": 0.02})
	near(t, "Requests(v1)", m.Requests("v1"), 5880, 1e-6)
	near(t, "Requests(v2)", m.Requests("v2"), 120, 1e-6)
	near(t, "Errors(v1)", m.Errors("v1"), 58.8, 1e-6)
	near(t, "Errors(v2)", m.Errors("v2"), 24, 1e-6)
	if got := m.Requests(UnservedVersion); got > 1e-6 {
		t.Errorf("Requests(unserved) = %v, want 0", got)
	}
	end := t0.Add(60 * time.Second)
	for _, tc := range []struct {
		v         string
		window    time.Duration
		rate, err float64
	}{
		{"v1", time.Minute, 98, 0.01},
		{"v2", 30 * time.Second, 2, 0.2},
		{"v2", 2500 * time.Millisecond, 2, 0.2}, // cut bucket, pro-rated
	} {
		near(t, "RequestRate("+tc.v+")", m.RequestRate(tc.v, end, tc.window), tc.rate, 1e-9)
		r, ok := m.ErrorRatio(tc.v, end, tc.window)
		if !ok {
			t.Errorf("ErrorRatio(%s, %v) no data", tc.v, tc.window)
		}
		near(t, "ErrorRatio("+tc.v+")", r, tc.err, 1e-9)
	}
	if got, want := m.Versions(), []string{"v1", "v2"}; !slices.Equal(got, want) {
		t.Errorf("Versions = %v, want %v", got, want)
	}
}

func TestMeterNoData(t *testing.T) {
	t.Parallel()
	m := NewMeter(1)
	run(m, 10, 50, map[string]float64{"v1": 1, "v2": 0})
	later := t0.Add(10 * time.Minute)
	for _, tc := range []struct {
		name, v string
		at      time.Time
	}{
		{"version with zero share", "v2", t0.Add(10 * time.Second)},
		{"unknown version", "v9", t0.Add(10 * time.Second)},
		{"window after traffic stopped", "v1", later},
		{"window before any traffic", "v1", t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, ok := m.ErrorRatio(tc.v, tc.at, time.Minute); ok || r != 0 {
				t.Errorf("ErrorRatio = %v, %v; want 0, false", r, ok)
			}
			if r := m.RequestRate(tc.v, tc.at, time.Minute); r != 0 || math.IsNaN(r) {
				t.Errorf("RequestRate = %v, want 0", r)
			}
			if _, ok := m.LatencyQuantile(tc.v, 0.99, tc.at, time.Minute); ok {
				t.Error("LatencyQuantile ok, want no data")
			}
			if s := m.LatencySamples(tc.v, tc.at, time.Minute); len(s) != 0 {
				t.Errorf("LatencySamples = %v, want none", s)
			}
		})
	}
	if got := m.Versions(); !slices.Contains(got, "v2") {
		t.Errorf("Versions = %v, want v2 listed with zero traffic", got)
	}
}

func TestMeterUnserved(t *testing.T) {
	t.Parallel()
	m := NewMeter(1)
	run(m, 10, 10, map[string]float64{"v1": 0.9}) // canary backend without pods
	run(m, 10, 10, map[string]float64{})          // nothing ready
	m.Record(t0.Add(30*time.Second), time.Second, 10, nil, nil)
	near(t, "Requests(v1)", m.Requests("v1"), 90, 1e-9)
	near(t, "Requests(unserved)", m.Requests(UnservedVersion), 10+100+10, 1e-9)
	near(t, "Errors(unserved)", m.Errors(UnservedVersion), 120, 1e-9)
	if s := m.LatencySamples(UnservedVersion, t0.Add(time.Minute), time.Minute); len(s) != 0 {
		t.Errorf("unserved has %d latency samples, want none", len(s))
	}
}

func TestMeterLatency(t *testing.T) {
	t.Parallel()
	m := NewMeter(7, WithMaxSamples(16))
	run(m, 300, 1000, map[string]float64{"v1": 0.5, "v2": 0.5})
	end := t0.Add(300 * time.Second)
	s := m.LatencySamples("v1", end, time.Minute)
	if len(s) != 60*16 {
		t.Errorf("len(LatencySamples) = %d, want %d (16 per bucket)", len(s), 60*16)
	}
	p50, ok := m.LatencyQuantile("v1", 0.5, end, 5*time.Minute)
	near(t, "p50(v1)", p50, 0.1, 0.005)
	p50v2, _ := m.LatencyQuantile("v2", 0.5, end, 5*time.Minute)
	near(t, "p50(v2)", p50v2, 0.3, 0.015)
	p99, _ := m.LatencyQuantile("v1", 0.99, end, 5*time.Minute)
	near(t, "p99(v1)", p99, 0.1*math.Exp(0.2*2.326), 0.01) // log-normal, sigma 0.2
	if !ok {
		t.Fatal("LatencyQuantile: no data")
	}
	if _, ok := m.LatencyQuantile("v1", 1.5, end, time.Minute); ok {
		t.Error("q = 1.5 accepted")
	}
	exact := NewMeter(1, WithLatencySigma(0))
	exact.Record(t0.Add(time.Second), time.Second, 3, map[string]float64{"v1": 1}, behave)
	if got := exact.LatencySamples("v1", t0.Add(time.Second), time.Second); !slices.Equal(got, []float64{0.1, 0.1, 0.1}) {
		t.Errorf("sigma 0 samples = %v, want three of 0.1", got)
	}
	// Low traffic: 0.25 rps gives one sample every four seconds, not one a second.
	low := NewMeter(1)
	run(low, 40, 0.25, map[string]float64{"v1": 1})
	if got := len(low.LatencySamples("v1", t0.Add(40*time.Second), time.Minute)); got != 10 {
		t.Errorf("low traffic samples = %d, want 10", got)
	}
}

func TestMeterDeterministic(t *testing.T) {
	t.Parallel()
	samples := func(seed int64) []float64 {
		m := NewMeter(seed, WithMaxSamples(8))
		run(m, 30, 200, map[string]float64{"v1": 0.7, "v2": 0.3})
		return append(m.LatencySamples("v1", t0.Add(30*time.Second), time.Minute),
			m.LatencySamples("v2", t0.Add(30*time.Second), time.Minute)...)
	}
	a, b, c := samples(42), samples(42), samples(43)
	if !slices.Equal(a, b) {
		t.Error("same seed gave different samples")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds gave the same samples")
	}
}

func TestMeterRetention(t *testing.T) {
	t.Parallel()
	m := NewMeter(1, WithRetention(time.Minute), WithResolution(10*time.Second), WithMaxSamples(4))
	run(m, 300, 10, map[string]float64{"v1": 1})
	end := t0.Add(300 * time.Second)
	near(t, "Requests (cumulative)", m.Requests("v1"), 3000, 1e-9)
	near(t, "rate over retention", m.RequestRate("v1", end, time.Minute), 10, 1e-9)
	near(t, "rate over 5m (only 1m kept)", m.RequestRate("v1", end, 5*time.Minute), 2, 1e-9)
	if got := len(m.LatencySamples("v1", end, time.Hour)); got != 6*4 {
		t.Errorf("samples kept = %d, want %d", got, 6*4)
	}
	// One long step: only its last minute lands in the ring.
	long := NewMeter(1, WithRetention(time.Minute))
	long.Record(t0.Add(time.Hour), time.Hour, 1, map[string]float64{"v1": 1}, nil)
	near(t, "long step total", long.Requests("v1"), 3600, 1e-9)
	near(t, "long step rate", long.RequestRate("v1", t0.Add(time.Hour), time.Minute), 1, 1e-9)
	// A late write older than retention does not clobber newer buckets.
	long.Record(t0.Add(time.Minute), time.Second, 1000, map[string]float64{"v1": 1}, nil)
	near(t, "rate after late write", long.RequestRate("v1", t0.Add(time.Hour), time.Minute), 1, 1e-9)
}

func TestMeterConcurrent(t *testing.T) {
	t.Parallel()
	m := NewMeter(1)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				at := t0.Add(time.Duration(g*100+i) * time.Second)
				m.Record(at, time.Second, 10, map[string]float64{"v1": 0.5, "v2": 0.5}, behave)
				m.ErrorRatio("v2", at, time.Minute)
				m.LatencyQuantile("v1", 0.9, at, time.Minute)
			}
		})
	}
	wg.Wait()
	near(t, "Requests(v1)", m.Requests("v1"), 4000, 1e-6)
}

func TestMeterRecordCopies(t *testing.T) {
	t.Parallel()
	m := NewMeter(1)
	// Mirroring 30% of 100 rps to v2 for 10s, on top of v1 serving it all.
	for i := 1; i <= 10; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		m.Record(at, time.Second, 100, map[string]float64{"v1": 1}, behave)
		m.RecordCopies(at, time.Second, 100, map[string]float64{"v2": 0.3}, behave)
	}
	near(t, "v1 requests", m.Requests("v1"), 1000, 1e-9)
	near(t, "v2 requests", m.Requests("v2"), 300, 1e-9)
	near(t, "v2 errors", m.Errors("v2"), 60, 1e-9)
	if got := m.Requests(UnservedVersion); got != 0 {
		t.Errorf("copies booked %v unserved requests, want 0", got)
	}
}

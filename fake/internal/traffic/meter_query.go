package traffic

import (
	"math"
	"sort"
	"time"
)

// Requests returns the requests ever recorded for version (0 if none).
func (m *Meter) Requests(version string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.series[version]; ok {
		return s.requests
	}
	return 0
}

// Errors returns the failed requests ever recorded for version.
func (m *Meter) Errors(version string) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.series[version]; ok {
		return s.errors
	}
	return 0
}

// Versions returns the versions the Meter has seen, sorted.
func (m *Meter) Versions() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.series))
	for v := range m.series {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// ErrorRatio returns errors/requests of version in [at-window, at). ok is
// false when the window holds no requests ("no data"), never NaN.
func (m *Meter) ErrorRatio(version string, at time.Time, window time.Duration) (ratio float64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	req, errs := m.sum(version, at, window)
	if req <= 0 {
		return 0, false
	}
	return min(errs/req, 1), true
}

// RequestRate returns the requests per second of version in
// [at-window, at); 0 when it had no traffic.
func (m *Meter) RequestRate(version string, at time.Time, window time.Duration) float64 {
	if window <= 0 {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	req, _ := m.sum(version, at, window)
	return req / window.Seconds()
}

// LatencySamples returns the latency samples of version, in seconds, taken
// in [at-window, at), in time order; empty when there are none.
func (m *Meter) LatencySamples(version string, at time.Time, window time.Duration) []float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var got []sample
	m.each(version, at, window, func(b *bucket, _ float64) {
		for _, x := range b.samples {
			if x.at >= at.UnixNano()-int64(window) && x.at < at.UnixNano() {
				got = append(got, x)
			}
		}
	})
	sort.SliceStable(got, func(i, j int) bool { return got[i].at < got[j].at })
	out := make([]float64, len(got))
	for i, x := range got {
		out[i] = x.sec
	}
	return out
}

// LatencyQuantile returns the q-quantile (0 <= q <= 1, linear
// interpolation) of the latency samples of version in [at-window, at), in
// seconds; ok is false when there are no samples or q is out of range.
func (m *Meter) LatencyQuantile(version string, q float64, at time.Time, window time.Duration) (float64, bool) {
	if !(q >= 0 && q <= 1) {
		return 0, false
	}
	xs := m.LatencySamples(version, at, window)
	if len(xs) == 0 {
		return 0, false
	}
	sort.Float64s(xs)
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(xs)-1)
	return xs[lo] + (pos-float64(lo))*(xs[hi]-xs[lo]), true
}

// sum adds the requests and errors of version in [at-window, at), pro-rating
// buckets cut by the window's edges.
func (m *Meter) sum(version string, at time.Time, window time.Duration) (req, errs float64) {
	m.each(version, at, window, func(b *bucket, frac float64) {
		req += b.requests * frac
		errs += b.errors * frac
	})
	return req, errs
}

// each calls fn for every live bucket overlapping [at-window, at) with the
// fraction of the bucket inside the window.
func (m *Meter) each(version string, at time.Time, window time.Duration, fn func(b *bucket, frac float64)) {
	s, ok := m.series[version]
	if !ok || window <= 0 {
		return
	}
	res := int64(m.cfg.resolution)
	end := at.UnixNano()
	start := end - int64(window)
	first, last := floorDiv(start, res), floorDiv(end-1, res)
	first = max(first, last-int64(len(s.ring))+1)
	for k := first; k <= last; k++ {
		b := &s.ring[int(mod(k, int64(len(s.ring))))]
		if !b.used || b.k != k {
			continue
		}
		overlap := min((k+1)*res, end) - max(k*res, start)
		if overlap > 0 {
			fn(b, float64(overlap)/float64(res))
		}
	}
}

package traffic

import (
	"testing"
	"time"
)

// BenchmarkRouteService routes through a Service with 100 ready endpoints
// (70 of v1, 30 of v2) in two EndpointSlices.
func BenchmarkRouteService(b *testing.B) {
	w := (&world{}).backend("web", "v1", 70, 0)
	w.backend("web", "v2", 30, 0)
	m := w.model()
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		res, err := m.Route(ctx, svcEntry("web"), Request{})
		if err != nil || res.Serve["v2"] < 0.3-1e-9 || res.Serve["v2"] > 0.3+1e-9 {
			b.Fatalf("Route = %v, %v", res, err)
		}
	}
}

// BenchmarkRouteHTTPRoute routes a 90/10 split over two Services.
func BenchmarkRouteHTTPRoute(b *testing.B) {
	m := twoBackends(b, httpRouteYAML(`
  - backendRefs: [{name: stable, weight: 90}, {name: canary, weight: 10}]
`)).model()
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Route(ctx, routeEntry("web"), Request{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMeterRecord records one second of 1000 rps split over two
// versions, with the default 32 samples per bucket.
func BenchmarkMeterRecord(b *testing.B) {
	m := NewMeter(1)
	serve := map[string]float64{"v1": 0.9, "v2": 0.1}
	at := t0
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(time.Second)
		m.Record(at, time.Second, 1000, serve, behave)
	}
}

package traffic_test

import (
	"fmt"
	"time"

	"github.com/switchyard-dev/switchyard/fake/internal/traffic"
)

// A Meter fed with a 90/10 split: counters are exact expected values, and a
// window with no traffic reports "no data" rather than NaN.
func ExampleMeter() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := traffic.NewMeter(1)
	behavior := func(v string) traffic.Version {
		if v == "v2" {
			return traffic.Version{ErrorRate: 0.05, Latency: 200 * time.Millisecond}
		}
		return traffic.Version{ErrorRate: 0.001, Latency: 100 * time.Millisecond}
	}
	for i := 1; i <= 60; i++ {
		m.Record(start.Add(time.Duration(i)*time.Second), time.Second, 100,
			map[string]float64{"v1": 0.9, "v2": 0.1}, behavior)
	}
	now := start.Add(time.Minute)
	ratio, ok := m.ErrorRatio("v2", now, time.Minute)
	fmt.Printf("v2: %.0f requests, %.0f errors, ratio %.2f (%v)\n", m.Requests("v2"), m.Errors("v2"), ratio, ok)
	fmt.Printf("v1 rate: %.0f/s\n", m.RequestRate("v1", now, 30*time.Second))
	_, ok = m.ErrorRatio("v2", now.Add(time.Hour), time.Minute)
	fmt.Println("an hour later, data:", ok)
	// Output:
	// v2: 600 requests, 30 errors, ratio 0.05 (true)
	// v1 rate: 90/s
	// an hour later, data: false
}

package promtest_test

import (
	"fmt"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/switchyard-dev/switchyard/internal/promtest"
)

// A fake clock makes the exporter's counts exact; a real Prometheus test
// would pass e.Addr() to promtest.Start and leave the clock real.
func ExampleExporter() {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := promtest.NewExporter("checkout", promtest.WithClock(clk))
	if err != nil {
		panic(err)
	}
	defer e.Stop()
	e.SetRate("v1", 50)
	e.SetRate("v2", 50)
	e.SetErrorRate("v2", 0.2)
	clk.Step(10 * time.Second)

	for _, v := range []string{"v1", "v2"} {
		requests, failed := e.Counts(v)
		fmt.Printf("%s: %d requests, %d failed\n", v, requests, failed)
	}
	fmt.Println(promtest.ErrorRatioQuery("checkout", "v2", 10*time.Second))
	// Output:
	// v1: 500 requests, 0 failed
	// v2: 500 requests, 100 failed
	// sum(rate(http_requests_total{app="checkout",version="v2",code=~"5.."}[10s])) / sum(rate(http_requests_total{app="checkout",version="v2"}[10s]))
}

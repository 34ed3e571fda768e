package bluegreen_test

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// BenchmarkReleaseOnFake measures one blue/green release (v1 live, v2
// shipped) on the fake cluster with default delays, and the API requests it
// makes, by verb and resource.
func BenchmarkReleaseOnFake(b *testing.B) { benchRelease(b, false) }

// BenchmarkReleaseOnFakeWarm is BenchmarkReleaseOnFake with the watches
// shared across the Runs (strategy.WithWatches), as in a long-running
// deploy service: v1 starts them, v2 is measured.
func BenchmarkReleaseOnFakeWarm(b *testing.B) { benchRelease(b, true) }

func benchRelease(b *testing.B, warm bool) {
	b.ReportAllocs()
	var total int
	byVerb := map[string]int{}
	for range b.N {
		b.StopTimer()
		c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithObjects(namespaceAndService()...))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		opts := []strategy.Option{strategy.WithClock(c.Clock()), strategy.WithIdentity("bench")}
		var w *strategy.Watches
		if warm {
			w = strategy.NewWatches(c.Clients(), strategy.WithClock(c.Clock()))
			opts = append(opts, strategy.WithWatches(w))
		}
		s := bluegreen.New(c.Clients(), baseSpec(), opts...)
		if _, err := s.Run(ctx, release("v1")); err != nil {
			b.Fatal(err)
		}
		c.ResetRequests()
		b.StartTimer()
		if _, err := s.Run(ctx, release("v2")); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for k, n := range c.Requests() {
			total += n
			byVerb[k.Verb+" "+k.Resource] += n
		}
		if w != nil {
			w.Close()
		}
		cancel()
		c.Stop()
	}
	b.ReportMetric(float64(total)/float64(b.N), "requests/release")
	var lines []string
	for k, n := range byVerb {
		lines = append(lines, k+": "+strconv.Itoa(n/b.N))
	}
	sort.Strings(lines)
	b.Logf("requests per release: %s", strings.Join(lines, ", "))
}

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
func BenchmarkReleaseOnFake(b *testing.B) {
	b.ReportAllocs()
	var total int
	byVerb := map[string]int{}
	for range b.N {
		b.StopTimer()
		c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithObjects(namespaceAndService()...))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		s := bluegreen.New(c.Clients(), baseSpec(), strategy.WithClock(c.Clock()), strategy.WithIdentity("bench"))
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

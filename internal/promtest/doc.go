// Package promtest runs a real Prometheus server on loopback for the
// analysis end-to-end tests, and an in-process exporter whose traffic and
// error rates a test sets per version.
//
// [NewExporter] serves [MetricName] (http_requests_total{app,version,code})
// on 127.0.0.1 and counts simulated requests as the clock runs:
// [Exporter.SetRate] and [Exporter.SetErrorRate] change a version's traffic
// from that moment, and the counts are exact (floor of rate × time, floor of
// requests × error rate), so a test can predict them. [Start] builds
// Prometheus on first use, starts it scraping the given targets every
// second, waits until it is ready and stops it when the test ends;
// [Server.API] queries it and [ErrorRatioQuery] is the PromQL error ratio
// of one version.
//
// # Binaries
//
// Prometheus is built by the tools module internal/controlplane/tools/prometheus
// with every service-discovery plugin and the web UI left out, and kept in
// the cache folder described in package controlplane (see
// controlplane.EnsurePrometheus). The first build takes about two minutes on
// 2 cores with an empty Go build cache; later starts take about a second.
//
// # Limits
//
// Linux and other Unix systems only (process groups). Under go test -short
// [Start] skips the test. The exporter serves counters only: no latency
// histograms. Prometheus scrapes every second, so a rate over a window
// needs at least two scrapes in it before it reads anything.
package promtest

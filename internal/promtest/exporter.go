package promtest

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/utils/clock"
)

// MetricName is the counter the Exporter serves, with the labels app,
// version and code ("200" or "500").
const MetricName = "http_requests_total"

// ExporterOption configures NewExporter.
type ExporterOption interface {
	apply(*exporterConfig)
}

type exporterConfig struct {
	clock clock.PassiveClock
}

type clockOption struct{ c clock.PassiveClock }

func (o clockOption) apply(c *exporterConfig) { c.clock = o.c }

// WithClock sets the clock that drives the traffic. The default is
// clock.RealClock{}.
func WithClock(c clock.PassiveClock) ExporterOption { return clockOption{c} }

// Exporter serves /metrics for a simulated app on a loopback port. Each
// version receives traffic at its own rate and fails a set share of it.
// Traffic is a function of the clock: SetRate(v, r) at time t0 means that
// at time t, v has served floor(r*(t-t0)) more requests, and a share e set
// by SetErrorRate makes floor(n*e) of the next n requests fail. Counts are
// brought up to date whenever they are read or scraped, so they never lag.
type Exporter struct {
	app     string
	clock   clock.PassiveClock
	reg     *prometheus.Registry
	counter *prometheus.CounterVec
	ln      net.Listener
	srv     *http.Server
	served  chan error // the result of Serve

	mu       sync.Mutex
	versions map[string]*traffic
	stopped  bool
}

// traffic is the state of one version, in integers so counts are exact.
type traffic struct {
	milliRPS  int64     // requests per 1000 s
	since     time.Time // when milliRPS was set
	sentSince int64     // requests sent since then
	ppm       int64     // errors per million requests
	errAcc    int64     // error credit in millionths of a request
	requests  int64
	errors    int64
}

// NewExporter starts an exporter for app on 127.0.0.1 with a random port.
// It serves no traffic until SetRate is called. Stop ends it.
func NewExporter(app string, opts ...ExporterOption) (*Exporter, error) {
	cfg := exporterConfig{clock: clock.RealClock{}}
	for _, o := range opts {
		o.apply(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the exporter: %w", err)
	}
	e := &Exporter{
		app:   app,
		clock: cfg.clock,
		reg:   prometheus.NewRegistry(),
		counter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricName,
			Help: "Simulated HTTP requests by app, version and status code.",
		}, []string{"app", "version", "code"}),
		ln:       ln,
		served:   make(chan error, 1),
		versions: map[string]*traffic{},
	}
	e.reg.MustRegister(collector{e})
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{}))
	e.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { e.served <- e.srv.Serve(ln) }()
	return e, nil
}

// Addr is the exporter's host:port, the scrape target.
func (e *Exporter) Addr() string { return e.ln.Addr().String() }

// URL is the address of the metrics page.
func (e *Exporter) URL() string { return "http://" + e.Addr() + "/metrics" }

// SetRate sets the requests per second that version receives from now on.
// Requests already due at the old rate are counted first. It panics if rps
// is negative or not finite.
func (e *Exporter) SetRate(version string, rps float64) {
	if rps < 0 || math.IsInf(rps, 0) || math.IsNaN(rps) {
		panic(fmt.Sprintf("promtest: rate %v for version %q is not a finite number >= 0", rps, version))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.Now()
	t := e.traffic(version, now)
	e.advance(version, t, now)
	t.milliRPS = int64(math.Round(rps * 1000))
	t.since = now
	t.sentSince = 0
}

// SetErrorRate sets the share of version's requests, from now on, that
// fail with code 500. It panics if ratio is outside [0, 1].
func (e *Exporter) SetErrorRate(version string, ratio float64) {
	if !(ratio >= 0 && ratio <= 1) {
		panic(fmt.Sprintf("promtest: error rate %v for version %q is outside [0, 1]", ratio, version))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock.Now()
	t := e.traffic(version, now)
	e.advance(version, t, now)
	t.ppm = int64(math.Round(ratio * 1e6))
	t.errAcc = 0
}

// Counts returns the requests version has served so far and how many of
// them failed.
func (e *Exporter) Counts(version string) (requests, failed int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.versions[version]
	if !ok {
		return 0, 0
	}
	e.advance(version, t, e.clock.Now())
	return t.requests, t.errors
}

// Stop stops the traffic and closes the server. Counts stay readable.
func (e *Exporter) Stop() error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	now := e.clock.Now()
	for v, t := range e.versions {
		e.advance(v, t, now)
		t.milliRPS = 0
	}
	e.stopped = true
	e.mu.Unlock()
	if err := e.srv.Close(); err != nil {
		return fmt.Errorf("closing the exporter: %w", err)
	}
	if err := <-e.served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving metrics: %w", err)
	}
	return nil
}

// traffic returns the state of version, creating it with both code series
// at zero, so that error ratios read 0 rather than nothing. Call with mu held.
func (e *Exporter) traffic(version string, now time.Time) *traffic {
	t, ok := e.versions[version]
	if !ok {
		t = &traffic{since: now}
		e.versions[version] = t
		e.counter.WithLabelValues(e.app, version, "200")
		e.counter.WithLabelValues(e.app, version, "500")
	}
	return t
}

// advance counts the requests of version that are due at now. Call with mu
// held.
func (e *Exporter) advance(version string, t *traffic, now time.Time) {
	if e.stopped || t.milliRPS == 0 {
		return
	}
	due := t.milliRPS * now.Sub(t.since).Microseconds() / 1e9
	n := due - t.sentSince
	if n <= 0 {
		return
	}
	t.sentSince = due
	t.errAcc += n * t.ppm
	failed := t.errAcc / 1e6
	t.errAcc %= 1e6
	t.requests += n
	t.errors += failed
	e.counter.WithLabelValues(e.app, version, "200").Add(float64(n - failed))
	e.counter.WithLabelValues(e.app, version, "500").Add(float64(failed))
}

// collector brings every version up to date before the counters are
// gathered, so a scrape sees the traffic due at that moment.
type collector struct{ e *Exporter }

var _ prometheus.Collector = collector{}

func (c collector) Describe(ch chan<- *prometheus.Desc) { c.e.counter.Describe(ch) }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.e.mu.Lock()
	now := c.e.clock.Now()
	for v, t := range c.e.versions {
		c.e.advance(v, t, now)
	}
	c.e.mu.Unlock()
	c.e.counter.Collect(ch)
}

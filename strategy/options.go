package strategy

import (
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"k8s.io/utils/clock"
)

// Defaults of the shared options.
const (
	DefaultLeaseDuration   = 30 * time.Second
	DefaultHistoryLimit    = 10
	DefaultFieldManager    = "switchyard"
	DefaultMaxRetryBackoff = 30 * time.Second
)

// Option configures what every strategy shares: clock, identity, lease,
// history, retries and observability. Only this package makes Options.
type Option interface {
	apply(*Config)
}

type optionFunc func(*Config)

func (f optionFunc) apply(c *Config) { f(c) }

// Config is the resolved form of the shared options. Strategies build it with
// NewConfig and pass it to Begin.
type Config struct {
	Clock          clock.WithTickerAndDelayedExecution
	Identity       string
	LeaseDuration  time.Duration
	HistoryLimit   int
	FieldManager   string
	Observer       Observer
	Logger         *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Events         bool
	// MaxRetryBackoff caps the wait between retries of a transient error.
	MaxRetryBackoff time.Duration
	// Watches are shared with other Runs; nil: each Run watches on its own.
	Watches *Watches
}

// NewConfig resolves opts over the defaults: the real clock, the host name
// as identity, a 30s lease, 10 revisions of history, field
// manager "switchyard", corev1 Events on, the global OpenTelemetry providers
// and a logger that discards.
func NewConfig(opts ...Option) Config {
	c := Config{
		Clock:           clock.RealClock{},
		LeaseDuration:   DefaultLeaseDuration,
		HistoryLimit:    DefaultHistoryLimit,
		FieldManager:    DefaultFieldManager,
		Events:          true,
		MaxRetryBackoff: DefaultMaxRetryBackoff,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	if c.Identity == "" {
		c.Identity = DefaultIdentity()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.TracerProvider == nil {
		c.TracerProvider = otel.GetTracerProvider()
	}
	if c.MeterProvider == nil {
		c.MeterProvider = otel.GetMeterProvider()
	}
	return c
}

// DefaultIdentity is the identity of drivers and Controls built without
// WithIdentity: the host name (in a Pod, the Pod's name), so that a
// process restarted on the same host takes its releases over at once,
// while a driver on another host waits for the lease to lapse. Within one
// process, Runs of one app never act at once whatever their identities.
func DefaultIdentity() string {
	if host, err := os.Hostname(); err == nil && host != "" {
		return host
	}
	return "switchyard"
}

// Validate checks the options' values.
func (c Config) Validate() error {
	var v Validator
	v.Check(c.Clock != nil, "options.clock", nil, "must be set")
	v.Check(c.LeaseDuration > 0 && c.LeaseDuration <= MaxLeaseDuration, "options.leaseDuration", c.LeaseDuration,
		"must be positive and at most %s", MaxLeaseDuration)
	v.Check(c.HistoryLimit > 0, "options.historyLimit", c.HistoryLimit, "must be at least 1")
	v.Check(c.FieldManager != "", "options.fieldManager", nil, "must not be empty")
	v.Check(c.MaxRetryBackoff > 0, "options.maxRetryBackoff", c.MaxRetryBackoff, "must be positive")
	if c.Watches != nil {
		c.Watches.validFor(&v, c)
	}
	return v.Err()
}

// WithClock sets the clock every wait, timer and timestamp uses. Tests pass a
// fake clock (fake.Cluster.Clock()).
func WithClock(c clock.WithTickerAndDelayedExecution) Option {
	return optionFunc(func(cfg *Config) { cfg.Clock = c })
}

// WithIdentity names this driver in the release lease and in the requests
// it sends. Give each host a stable, unique name: a driver restarted with
// the same identity takes over its releases at once, one with another
// waits for the lease to lapse. The default is DefaultIdentity.
func WithIdentity(id string) Option { return optionFunc(func(c *Config) { c.Identity = id }) }

// WithLeaseDuration sets how long a driver's lease lasts without renewal; a
// crashed driver's release is taken over this long after its last write.
func WithLeaseDuration(d time.Duration) Option {
	return optionFunc(func(c *Config) { c.LeaseDuration = d })
}

// WithHistoryLimit sets how many revisions the record keeps for Undo.
func WithHistoryLimit(n int) Option { return optionFunc(func(c *Config) { c.HistoryLimit = n }) }

// WithFieldManager sets the field manager of server-side applies.
func WithFieldManager(name string) Option {
	return optionFunc(func(c *Config) { c.FieldManager = name })
}

// WithObserver adds a callback that receives every Event. Several observers
// are called in the order they were given.
func WithObserver(o Observer) Option {
	return optionFunc(func(c *Config) {
		if prev := c.Observer; prev != nil {
			c.Observer = func(e Event) { prev(e); o(e) }
			return
		}
		c.Observer = o
	})
}

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *Config) { c.Logger = l }) }

// WithTracerProvider sets the OpenTelemetry tracer provider; the default is
// the global one, a no-op until the program installs an SDK.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *Config) { c.TracerProvider = tp })
}

// WithMeterProvider sets the OpenTelemetry meter provider; the default is the
// global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *Config) { c.MeterProvider = mp })
}

// WithEvents turns corev1 Events on the release record on or off (on by
// default).
func WithEvents(on bool) Option { return optionFunc(func(c *Config) { c.Events = on }) }

// WithMaxRetryBackoff caps the wait between retries of transient API errors.
func WithMaxRetryBackoff(d time.Duration) Option {
	return optionFunc(func(c *Config) { c.MaxRetryBackoff = d })
}

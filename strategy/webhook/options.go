package webhook

import (
	"maps"
	"net/http"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Defaults of the options.
const (
	// DefaultAttemptTimeout bounds each request.
	DefaultAttemptTimeout = 5 * time.Second
	// DefaultAttempts is how many requests a Gate makes before it gives up.
	DefaultAttempts = 5
	// DefaultNotifyAttempts is how many requests a Notifier makes for one
	// notification before it gives up.
	DefaultNotifyAttempts = 3
	// DefaultInterval is how often a Confirm asks its endpoint.
	DefaultInterval = 30 * time.Second
	// DefaultInitialBackoff and DefaultMaxBackoff bound the waits between
	// attempts: exponential, doubling from the initial one, with a jitter
	// of ±50%.
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = 30 * time.Second
	// DefaultQueueSize is how many notifications a Notifier holds.
	DefaultQueueSize = 256
)

// Option configures a Gate or a Confirm.
type Option interface{ applyHook(*hookConfig) }

// NotifyOption configures a Notifier.
type NotifyOption interface{ applyNotify(*notifyConfig) }

// CommonOption configures gates, confirms and notifiers alike.
type CommonOption interface {
	Option
	NotifyOption
}

// common is what gates and notifiers share: how they send a request.
type common struct {
	secret         []byte
	header         http.Header
	client         *http.Client
	attemptTimeout time.Duration
	attempts       int
	initialBackoff time.Duration
	maxBackoff     time.Duration
	metadata       map[string]string
}

type hookConfig struct {
	common
	moment   Moment
	strategy string
	timeout  time.Duration
	interval time.Duration
}

type notifyConfig struct {
	common
	clock     clock.WithDelayedExecution
	slack     bool
	only      map[strategy.EventType]bool
	queueSize int
	onError   func(error)
}

type commonOption func(*common)

func (f commonOption) applyHook(c *hookConfig)     { f(&c.common) }
func (f commonOption) applyNotify(c *notifyConfig) { f(&c.common) }

type hookOption func(*hookConfig)

func (f hookOption) applyHook(c *hookConfig) { f(c) }

type notifyOption func(*notifyConfig)

func (f notifyOption) applyNotify(c *notifyConfig) { f(c) }

// WithSecret signs every request with an HMAC-SHA256 of its timestamp and
// body under secret, in the SignatureHeader (see Sign and Verify).
func WithSecret(secret []byte) CommonOption {
	s := append([]byte{}, secret...) // empty but set: rejected by validation
	return commonOption(func(c *common) { c.secret = s })
}

// WithHeader adds a header to every request, such as an Authorization
// token. The values of headers whose name looks secret (see
// analysis.SecretName) never appear in errors, events or notifications.
func WithHeader(name, value string) CommonOption {
	return commonOption(func(c *common) {
		if c.header == nil {
			c.header = http.Header{}
		}
		c.header.Add(name, value)
	})
}

// WithHTTPClient sets the client that sends the requests. By default each
// Gate, Confirm and Notifier has its own, which follows no redirects and
// whose idle connections are closed when a check returns or a Notifier
// closes; a client given here is used as it is.
func WithHTTPClient(hc *http.Client) CommonOption {
	return commonOption(func(c *common) { c.client = hc })
}

// WithAttemptTimeout bounds each request, on the check's clock (a
// Notifier's clock for a Notifier). Zero: DefaultAttemptTimeout.
func WithAttemptTimeout(d time.Duration) CommonOption {
	return commonOption(func(c *common) { c.attemptTimeout = d })
}

// WithAttempts sets how many requests a Gate, or a Notifier for one
// notification, makes before it gives up on transient failures. Zero:
// DefaultAttempts for a Gate, DefaultNotifyAttempts for a Notifier. A
// Confirm asks until it is answered, whatever this says.
func WithAttempts(n int) CommonOption {
	return commonOption(func(c *common) { c.attempts = n })
}

// WithBackoff sets the first and the longest wait between attempts. Zero
// values take DefaultInitialBackoff and DefaultMaxBackoff.
func WithBackoff(initial, limit time.Duration) CommonOption {
	return commonOption(func(c *common) { c.initialBackoff, c.maxBackoff = initial, limit })
}

// WithMetadata adds fields to the payload's and the notification's
// metadata map, such as the cluster's name. Later calls add to earlier ones.
func WithMetadata(m map[string]string) CommonOption {
	m = maps.Clone(m)
	return commonOption(func(c *common) {
		if c.metadata == nil {
			c.metadata = map[string]string{}
		}
		maps.Copy(c.metadata, m)
	})
}

// At tells a Gate or a Confirm the moment of the release it guards, for a
// check that a strategy runs without one (blue/green's PrePromotion
// checks); it is sent as the payload's moment. A check run as one of a
// release's Gates sends that moment instead.
func At(m Moment) Option { return hookOption(func(c *hookConfig) { c.moment = m }) }

// ForStrategy names the strategy in the payload ("bluegreen", "canary").
func ForStrategy(name string) Option { return hookOption(func(c *hookConfig) { c.strategy = name }) }

// WithTimeout bounds the whole check on its clock: a Gate that has no
// answer it can act on by then fails with its last error, and a Confirm
// not approved by then fails. Zero: a Gate is bounded by its attempts
// only, and a Confirm waits until the release's context ends.
func WithTimeout(d time.Duration) Option { return hookOption(func(c *hookConfig) { c.timeout = d }) }

// WithInterval sets how often a Confirm asks its endpoint. Zero:
// DefaultInterval.
func WithInterval(d time.Duration) Option { return hookOption(func(c *hookConfig) { c.interval = d }) }

// WithClock sets a Notifier's clock, for its timestamps, signatures,
// timeouts and waits between attempts. Default: the real clock.
func WithClock(clk clock.WithDelayedExecution) NotifyOption {
	return notifyOption(func(c *notifyConfig) { c.clock = clk })
}

// Slack makes a Notifier post Slack-compatible incoming-webhook messages,
// {"text": "..."}, with a one-line summary of each event, instead of
// Notification documents.
func Slack() NotifyOption { return notifyOption(func(c *notifyConfig) { c.slack = true }) }

// Only makes a Notifier post the events of these types only. Later calls
// add types; a call without types changes nothing. Default: every event.
func Only(types ...strategy.EventType) NotifyOption {
	return notifyOption(func(c *notifyConfig) {
		if c.only == nil && len(types) > 0 {
			c.only = map[strategy.EventType]bool{}
		}
		for _, t := range types {
			c.only[t] = true
		}
	})
}

// WithQueueSize sets how many notifications a Notifier holds before it
// drops the oldest. Zero: DefaultQueueSize.
func WithQueueSize(n int) NotifyOption {
	return notifyOption(func(c *notifyConfig) { c.queueSize = n })
}

// WithErrorHandler is told, from the Notifier's goroutine, of each
// notification given up and of each failed attempt, with secrets masked.
// It must return quickly. Default: errors are only counted (Stats).
func WithErrorHandler(f func(error)) NotifyOption {
	return notifyOption(func(c *notifyConfig) { c.onError = f })
}

// withDefaults fills the zero values of c.
func (c common) withDefaults(attempts int) common {
	if c.attemptTimeout == 0 {
		c.attemptTimeout = DefaultAttemptTimeout
	}
	if c.attempts == 0 {
		c.attempts = attempts
	}
	if c.initialBackoff == 0 {
		c.initialBackoff = DefaultInitialBackoff
	}
	if c.maxBackoff == 0 {
		c.maxBackoff = max(DefaultMaxBackoff, c.initialBackoff)
	}
	return c
}

// validateCommon adds the errors of the request settings at path to v:
// an empty secret, and header names or values that cannot be sent. It
// never shows a header's value.
func validateCommon(v *strategy.Validator, path string, c common) {
	v.Check(c.secret == nil || len(c.secret) > 0, path+".secret", nil, "must not be empty")
	for name, vs := range c.header {
		v.Check(validHeaderName(name), path+".headers", name, "is not a valid header name")
		for _, val := range vs {
			v.Check(!strings.ContainsAny(val, "\r\n\x00"), path+".headers."+name, nil, "must not contain line breaks or NUL")
		}
	}
}

// validHeaderName reports whether name is an HTTP token (RFC 9110).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r >= 0x80 || !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

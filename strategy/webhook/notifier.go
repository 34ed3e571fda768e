package webhook

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Notifier posts a release's events to an endpoint from a goroutine of
// its own. Its Observer never blocks: events wait in a bounded queue, the
// oldest dropped when it is full. Close stops it. Its methods are safe
// for concurrent use.
type Notifier struct {
	cfg    notifyConfig
	ep     *endpoint
	err    error              // the configuration's *strategy.ValidationError, if any
	cancel context.CancelFunc // ends the goroutine's requests and waits
	done   chan struct{}      // closed when the goroutine returns
	wake   chan struct{}      // a notification was queued, or Close began

	mu      sync.Mutex
	queue   []message
	seq     uint64
	pending uint64 // dropped since the last notification left the queue
	closed  bool
	stats   Stats
}

// Stats counts what a Notifier did with the events it was given.
type Stats struct {
	// Sent notifications were answered with a 2xx.
	Sent uint64
	// Failed notifications were given up: a permanent error, every
	// attempt failed, or Close's context ended while they were sent.
	Failed uint64
	// Dropped events never left the queue: it was full, they came after
	// Close, or Close's context ended first.
	Dropped uint64
}

// message is an event waiting in the queue.
type message struct {
	seq   uint64
	event strategy.Event
}

// NewNotifier returns a Notifier that posts to rawURL and starts its
// goroutine; Close stops it. A bad configuration (see Validate) fails
// every notification.
func NewNotifier(rawURL string, opts ...NotifyOption) *Notifier {
	var cfg notifyConfig
	for _, o := range opts {
		if o != nil {
			o.applyNotify(&cfg)
		}
	}
	cfg.common = cfg.withDefaults(DefaultNotifyAttempts)
	if cfg.clock == nil {
		cfg.clock = clock.RealClock{}
	}
	if cfg.queueSize == 0 {
		cfg.queueSize = DefaultQueueSize
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{cfg: cfg, ep: newEndpoint(rawURL, cfg.common), cancel: cancel,
		done: make(chan struct{}), wake: make(chan struct{}, 1)}
	n.err = n.Validate()
	go n.run(ctx)
	return n
}

// Validate returns a *strategy.ValidationError when the Notifier's
// configuration is bad: a URL that is not http or https or has no host, a
// negative duration, size or count, an empty secret or a bad header.
func (n *Notifier) Validate() error {
	var v strategy.Validator
	c := n.cfg
	if err := n.ep.checkURL(); err != nil {
		v.Add("notifier.url", n.ep.shown, "%v", err)
	}
	v.Check(c.attemptTimeout >= 0, "notifier.attemptTimeout", c.attemptTimeout, "must not be negative")
	v.Check(c.initialBackoff >= 0, "notifier.backoff.initial", c.initialBackoff, "must not be negative")
	v.Check(c.maxBackoff >= c.initialBackoff, "notifier.backoff.max", c.maxBackoff, "must not be below the initial backoff %s", c.initialBackoff)
	v.Check(c.attempts >= 0, "notifier.attempts", c.attempts, "must not be negative")
	v.Check(c.queueSize > 0, "notifier.queueSize", c.queueSize, "must be positive")
	validateCommon(&v, "notifier", c.common)
	return v.Err()
}

// Observer returns the callback to give a strategy (strategy.WithObserver)
// or call with events. It never blocks and never fails: an event of a
// type the Notifier does not post is ignored; one that finds the queue
// full pushes the oldest out; one after Close is dropped.
func (n *Notifier) Observer() strategy.Observer { return n.observe }

func (n *Notifier) observe(e strategy.Event) {
	if n.cfg.only != nil && !n.cfg.only[e.Type] {
		return
	}
	if e.Traffic != nil {
		t := *e.Traffic
		e.Traffic = &t
	}
	if e.Measurement != nil {
		m := *e.Measurement
		e.Measurement = &m
	}
	n.mu.Lock()
	if n.closed {
		n.stats.Dropped++
		n.mu.Unlock()
		return
	}
	if len(n.queue) >= max(n.cfg.queueSize, 1) {
		n.queue[0] = message{}
		n.queue = n.queue[1:]
		n.stats.Dropped++
		n.pending++
	}
	n.seq++
	n.queue = append(n.queue, message{seq: n.seq, event: e})
	n.mu.Unlock()
	n.signal()
}

func (n *Notifier) signal() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Stats returns the Notifier's counts so far.
func (n *Notifier) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Close stops taking events and sends those queued until ctx ends, then
// stops the goroutine, cancelling a request in flight, and returns once
// it has. It returns an error matching ctx's when some were not sent.
// Later calls wait for the first to finish, and return nil.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	already := n.closed
	n.closed = true
	n.mu.Unlock()
	if already {
		<-n.done
		return nil
	}
	n.signal()
	var err error
	select {
	case <-n.done:
	case <-ctx.Done():
		select {
		case <-n.done:
		default:
			n.cancel()
			<-n.done
			err = ctx.Err()
		}
	}
	n.cancel()
	n.ep.closeIdle()
	n.mu.Lock()
	left := len(n.queue)
	n.stats.Dropped += uint64(left)
	n.queue = nil
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("closing the notifier: %d queued notifications dropped: %w", left, err)
	}
	return nil
}

// run sends the queued notifications in order until Close.
func (n *Notifier) run(ctx context.Context) {
	defer close(n.done)
	for {
		m, dropped, ok := n.next(ctx)
		if !ok {
			return
		}
		n.deliver(ctx, m, dropped)
	}
}

// next waits for the oldest queued message, and returns it with the
// count dropped since the last one; ok is false once the Notifier is
// closed with an empty queue, or ctx ended.
func (n *Notifier) next(ctx context.Context) (m message, dropped uint64, ok bool) {
	for ctx.Err() == nil {
		n.mu.Lock()
		if len(n.queue) > 0 {
			m = n.queue[0]
			n.queue[0] = message{}
			n.queue = n.queue[1:]
			dropped, n.pending = n.pending, 0
			n.mu.Unlock()
			return m, dropped, true
		}
		closed := n.closed
		n.mu.Unlock()
		if closed {
			return message{}, 0, false
		}
		select {
		case <-n.wake:
		case <-ctx.Done():
		}
	}
	return message{}, 0, false
}

package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	kuberecord "k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/internal/retry"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

const (
	// DefaultFlushTimeout is how long, in real time, Close waits for the
	// queued Events to be written unless WithFlushTimeout says otherwise.
	DefaultFlushTimeout = 5 * time.Second

	// Component is the Source.Component of every Event.
	Component = "switchyard"
	// ReportingController is the ReportingController of every Event; the
	// ReportingInstance is the driver's identity.
	ReportingController = "switchyard.dev/driver"

	// MaxMessage is the longest message written, in bytes; longer ones are
	// cut and end in "...".
	MaxMessage = 1024

	// queueLength is how many Events wait between Emit and the writer, and
	// again in the writer's channel, before Emit drops them: client-go's
	// value for its EventBroadcaster.
	queueLength = 1000
	// maxTries and defaultRetryInterval bound the retries of one Event on
	// transient errors, as client-go's EventBroadcaster does.
	maxTries             = 12
	defaultRetryInterval = 10 * time.Second
	// cancelGrace is how long Close waits, after it cancels the writes it
	// gave up on, for the writer to return.
	cancelGrace = time.Second
)

// Option configures a Sink made by New.
type Option func(*config)

type config struct {
	log           *slog.Logger
	flushTimeout  time.Duration
	retryInterval time.Duration
	correlator    kuberecord.CorrelatorOptions
}

// WithLogger sets where the Sink logs Events it drops or fails to write;
// the default discards.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithFlushTimeout sets how long, in real time, Close waits for the queued
// Events to be written (default DefaultFlushTimeout). A write still in
// flight then is canceled and the Events still queued are dropped.
func WithFlushTimeout(d time.Duration) Option { return func(c *config) { c.flushTimeout = d } }

// WithCorrelatorOptions tunes client-go's EventCorrelator: spam filter
// burst and rate, aggregation threshold and window, cache size. Its Clock
// is ignored: the correlator runs on the clock given to New.
func WithCorrelatorOptions(o kuberecord.CorrelatorOptions) Option {
	return func(c *config) { c.correlator = o }
}

// withRetryInterval sets the wait between tries of a write that failed
// with a transient error; for tests.
func withRetryInterval(d time.Duration) Option { return func(c *config) { c.retryInterval = d } }

// Sink sends corev1 Events for every release driven by one process. Make
// one with New; its methods are safe for concurrent use.
type Sink struct {
	kube          kubernetes.Interface
	clk           clock.PassiveClock
	log           *slog.Logger
	flushTimeout  time.Duration
	retryInterval time.Duration

	queue      *watch.Broadcaster // Emit -> writer, dropping when full
	in         watch.Interface    // the writer's end of queue
	correlator *kuberecord.EventCorrelator

	ctx    context.Context // of every write; canceled when Close gives up
	cancel context.CancelFunc
	done   chan struct{} // closed when the writer returns

	closed    atomic.Bool
	closeOnce sync.Once

	salt uint32 // with seq, keeps Event names unique under a still clock
	seq  atomic.Uint32
}

// New returns a running Sink that writes Events with kube. clk stamps the
// Events (FirstTimestamp, LastTimestamp) and drives the correlator's
// aggregation window and spam filter; the Sink sets no timer on it.
// Retries and Close's bound run on real time.
func New(kube kubernetes.Interface, clk clock.PassiveClock, opts ...Option) *Sink {
	cfg := config{flushTimeout: DefaultFlushTimeout, retryInterval: defaultRetryInterval}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	co := cfg.correlator
	co.Clock = &strictClock{clk: clk}
	if co.MessageFunc == nil {
		co.MessageFunc = func(ev *corev1.Event) string {
			return truncate(kuberecord.EventAggregatorByReasonMessageFunc(ev))
		}
	}
	// The queue is the one client-go's record.NewBroadcaster makes. The
	// EventBroadcaster itself is not used: its Shutdown cancels the
	// goroutine that writes without letting it drain what is queued, and
	// that goroutine cannot be waited for.
	queue := watch.NewLongQueueBroadcaster(queueLength, watch.DropIfChannelFull)
	in, err := queue.Watch()
	if err != nil {
		panic(fmt.Sprintf("events: watching a new broadcaster: %v", err)) // only after Shutdown
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sink{
		kube:          kube,
		clk:           clk,
		log:           cfg.log,
		flushTimeout:  cfg.flushTimeout,
		retryInterval: cfg.retryInterval,
		queue:         queue,
		in:            in,
		correlator:    kuberecord.NewEventCorrelatorWithOptions(co),
		ctx:           ctx,
		cancel:        cancel,
		done:          make(chan struct{}),
		salt:          rand.Uint32(),
	}
	go s.run()
	return s
}

// Emit queues an Event about the release record of app, reported by the
// driver by, and returns without waiting for the API server. The Event is
// a Warning if warning is set, Normal otherwise; a message longer than
// MaxMessage bytes is cut. Emit does nothing on a nil or closed Sink, and
// drops the Event when the queue is full.
func (s *Sink) Emit(app types.NamespacedName, by string, warning bool, reason, message string) {
	if s == nil || s.closed.Load() {
		return
	}
	ev := s.event(app, by, warning, reason, message)
	sent, err := s.queue.ActionOrDrop(watch.Added, ev)
	switch {
	case err != nil: // closed meanwhile
	case !sent:
		s.log.Warn("events: queue full, Event dropped", "app", app.String(), "reason", reason)
	}
}

// Close stops the Sink. It writes the Events already queued, waiting at
// most the flush timeout in real time; then it cancels the write in
// flight, drops what is left and waits up to a second more for the
// writer to return. It returns once no goroutine of the Sink is running,
// unless the client ignored the cancellation: that write's goroutine ends
// when the call returns. Close is idempotent; concurrent calls all wait.
func (s *Sink) Close() {
	if s == nil {
		return
	}
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		// Nothing is queued after this; what was queued moves on to the
		// writer's channel, which is then closed.
		s.queue.Shutdown()
		flush := time.NewTimer(s.flushTimeout)
		defer flush.Stop()
		select {
		case <-s.done:
			s.cancel()
			return
		case <-flush.C:
		}
		s.cancel()
		grace := time.NewTimer(cancelGrace)
		defer grace.Stop()
		select {
		case <-s.done:
		case <-grace.C:
			s.log.Warn("events: a write ignored its canceled context; Close returns before it ends")
		}
	})
}

// event builds the Event Emit queues.
func (s *Sink) event(app types.NamespacedName, by string, warning bool, reason, message string) *corev1.Event {
	now := metav1.NewTime(s.clk.Now())
	ns := app.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	ref := record.Name(app.Name)
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      s.name(ref, now.Time),
			Namespace: ns,
			Labels:    map[string]string{record.LabelManagedBy: record.ManagedBy, record.LabelApp: app.Name},
		},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: ns, Name: ref},
		Reason:         reason,
		Message:        truncate(message),
		Type:           typ,
		Count:          1,
		FirstTimestamp: now,
		LastTimestamp:  now,
		// Host keeps the correlator's counts, windows and buckets per
		// driver: its keys include the source, not the reporting instance.
		Source:              corev1.EventSource{Component: Component, Host: by},
		ReportingController: ReportingController,
		ReportingInstance:   by,
	}
}

// name returns a new Event name: client-go's "<object>.<time in hex>",
// made unique with 8 more hex digits so that Events emitted at one
// instant of a fake clock, by this Sink or another, do not collide.
func (s *Sink) name(ref string, t time.Time) string {
	name := fmt.Sprintf("%s.%x%08x", ref, uint64(t.UnixNano()), s.salt+s.seq.Add(1))
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		name = fmt.Sprintf("%s.%x%08x", Component, uint64(t.UnixNano()), s.salt+s.seq.Add(1))
	}
	return name
}

// run is the writer: it writes the queued Events in order until Close
// shuts the queue down and the queue is drained.
func (s *Sink) run() {
	defer close(s.done)
	dropped := 0
	for e := range s.in.ResultChan() {
		ev, ok := e.Object.(*corev1.Event)
		if !ok {
			continue
		}
		if s.ctx.Err() != nil {
			dropped++
			continue
		}
		s.write(ev)
	}
	if dropped > 0 {
		s.log.Warn("events: Close timed out, queued Events dropped", "count", dropped)
	}
}

// write correlates ev and writes the result, retrying transient errors.
func (s *Sink) write(ev *corev1.Event) {
	res, err := s.correlator.EventCorrelate(ev)
	if err != nil {
		// Only building a patch can fail, and writes use Update.
		s.log.Debug("events: correlating", "err", err)
	}
	if res == nil || res.Skip {
		s.log.Debug("events: Event rate limited", "object", ev.InvolvedObject.Name, "reason", ev.Reason)
		return
	}
	out := res.Event
	// An Event combined from similar ones (EventAggregator) is built anew
	// and lacks what it does not copy.
	if out.Labels == nil {
		out.Labels = ev.Labels
	}
	if out.ReportingController == "" {
		out.ReportingController, out.ReportingInstance = ev.ReportingController, ev.ReportingInstance
	}
	for try := 1; ; try++ {
		err := s.send(out)
		if err == nil {
			return
		}
		if s.ctx.Err() != nil || !transient(err) || try == maxTries {
			s.log.Warn("events: Event not written", "object", out.InvolvedObject.Name, "reason", out.Reason,
				"tries", try, "err", err)
			return
		}
		// Spread the first retry, so that drivers do not all come back
		// together when the API server does.
		delay := s.retryInterval
		if try == 1 {
			delay = time.Duration(rand.Int64N(int64(delay) + 1))
		}
		t := time.NewTimer(delay)
		select {
		case <-s.ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// send writes one correlated Event: a new one with Create, a repeat with
// an unconditional Update (the Sink is the only writer of its Events;
// Update needs no patch verb) or, if it is gone, Create again.
func (s *Sink) send(ev *corev1.Event) error {
	api := s.kube.CoreV1().Events(ev.Namespace)
	w := *ev
	w.ResourceVersion = ""
	var out *corev1.Event
	var err error
	if w.Count > 1 {
		out, err = api.Update(s.ctx, &w, metav1.UpdateOptions{})
	}
	if w.Count <= 1 || apierrors.IsNotFound(err) {
		out, err = api.Create(s.ctx, &w, metav1.CreateOptions{})
	}
	if err != nil {
		return err
	}
	s.correlator.UpdateState(out)
	return nil
}

// transient reports whether a failed write is worth another try: API
// errors that retry.Transient accepts, and any error that is not an API
// status (the network), as client-go does.
func transient(err error) bool {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return retry.Transient(err)
	}
	return true
}

// truncate cuts msg to MaxMessage bytes, on a rune boundary.
func truncate(msg string) string {
	if len(msg) <= MaxMessage {
		return msg
	}
	cut := MaxMessage - len("...")
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "..."
}

// strictClock is the correlator's clock: clk, made strictly increasing.
// client-go names an Event combined from similar ones after the object
// and the time in nanoseconds; under a fake clock that stands still, two
// such Events about one record would get one name, and the second would
// be lost.
type strictClock struct {
	clk  clock.PassiveClock
	mu   sync.Mutex
	last time.Time
}

func (c *strictClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.clk.Now()
	if !t.After(c.last) {
		t = c.last.Add(time.Nanosecond)
	}
	c.last = t
	return t
}

func (c *strictClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

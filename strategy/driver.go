package strategy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/internal/objcache"
)

// ScopeName is the OpenTelemetry instrumentation scope of switchyard.
const ScopeName = "github.com/switchyard-dev/switchyard"

// Version is the library version reported to OpenTelemetry.
const Version = "0.1.0"

// Driver runs one release on behalf of a strategy. It holds the release's
// lease, reads and writes the release record, waits on watches and the
// clock, and reports what happens to the observer, the log, corev1 Events
// and OpenTelemetry. Strategies get one from Begin and end it with Finish or
// Close. A Driver is used by one goroutine.
type Driver struct {
	cfg      Config
	clients  Clients
	name     string
	app      types.NamespacedName
	revision string
	store    *store
	rec      *Record
	rv       string // resourceVersion of rec
	records  *objcache.Cache[*corev1.ConfigMap]
	events   *eventRecorder
	span     trace.Span
	tracer   trace.Tracer
	runs     metric.Int64Counter
	duration metric.Float64Histogram
	cancel   context.CancelFunc
	idle     func() bool
	wake     func()
	busy     func()
	done     func()
	closed   bool

	// mu guards rec and rv, which the lease keeper also writes; saveMu
	// serialises record writes.
	mu     sync.Mutex
	saving chan struct{} // holds a token while a record write runs
	keeper *keeper
	unlock func() // releases the process-local hold on the app

	// kinds maps step names to their kinds, for events (see Flow).
	kinds map[string]string

	// emitMu serialises calls of the observer; measured holds measurements
	// emitted since the last save, for the record.
	emitMu   sync.Mutex
	measured []Measurement
}

// participant is implemented by clocks that move themselves when every
// participant waits (fake.Clock in auto-advance mode).
type participant interface {
	Track() (idle, busy, done func())
}

// joiner is implemented by clocks with a race-free protocol of waits
// (fake.Clock.Join).
type joiner interface {
	Join(name string) (idle func() bool, busy, wake, done func())
}

// join registers the caller, named name, with a clock that moves itself
// when every participant waits; see fake.Clock.Join. With a clock that
// only has Track, idle always reports true and wake is busy.
func join(clk any, name string) (idle func() bool, busy, wake, done func()) {
	if j, ok := clk.(joiner); ok {
		return j.Join(name)
	}
	i, b, dn := Track(clk)
	return func() bool { i(); return true }, b, b, dn
}

// Track registers the caller with a clock that moves itself when every
// participant waits (fake.Clock in auto-advance mode): the caller calls
// idle right before it blocks, busy right after it wakes, and done when it
// finishes. With any other clock the functions do nothing.
func Track(clk any) (idle, busy, done func()) {
	if p, ok := clk.(participant); ok {
		return p.Track()
	}
	nop := func() {}
	return nop, nop, nop
}

// Begin starts driving release r of strategy name: it checks cfg, starts a
// watch on the release record, and takes the lease, creating the record when
// the app has none. It returns *LockedError while another driver's lease is
// live. The record it returns is the state to continue from.
//
// Each check is called with the record before the lease is taken; an error
// stops Begin with nothing written (strategies check that a release in
// flight is at one of their steps, with a state they can read).
func Begin(ctx context.Context, name string, clients Clients, r Release, cfg Config, checks ...func(*Record) error) (*Driver, error) {
	return begin(ctx, name, clients, r, cfg, nil, checks)
}

// begin is Begin that may also take over lapsed, a lease seen unchanged for
// its whole duration (see Control.WaitUnlocked), whatever its timestamps say.
func begin(ctx context.Context, name string, clients Clients, r Release, cfg Config, lapsed *Lease, checks []func(*Record) error) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clients.Kube == nil {
		return nil, &ValidationError{Fields: []FieldError{{Path: "clients.kube", Message: "must be set"}}}
	}
	unlock := holdLocally(clients.Kube, r.App, cfg.Identity)
	if unlock == nil {
		return nil, &LockedError{App: r.App, Holder: cfg.Identity + " (another Run of this process)", Until: cfg.Clock.Now().Add(cfg.LeaseDuration)}
	}
	d := &Driver{
		cfg: cfg, clients: clients, name: name, app: r.App, revision: r.Revision, unlock: unlock,
		saving: make(chan struct{}, 1),
	}
	d.idle, d.busy, d.wake, d.done = join(cfg.Clock, fmt.Sprintf("%s of %s %s by %s", name, r.App, r.Revision, cfg.Identity))
	d.store = &store{kube: clients.Kube, retry: Retrier{Clock: cfg.Clock, Max: cfg.MaxRetryBackoff, Idle: d.pause, OnRetry: d.onRetry}}
	if cfg.Events {
		d.events = &eventRecorder{kube: clients.Kube, clock: cfg.Clock, app: r.App, by: cfg.Identity}
	}
	d.tracer = cfg.TracerProvider.Tracer(ScopeName, trace.WithInstrumentationVersion(Version))
	meter := cfg.MeterProvider.Meter(ScopeName, metric.WithInstrumentationVersion(Version))
	d.runs, _ = meter.Int64Counter("switchyard.runs", metric.WithDescription("Runs finished, by strategy and phase."))
	d.duration, _ = meter.Float64Histogram("switchyard.run.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from the start of a release to its end."))

	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel = cancel
	cms := clients.Kube.CoreV1().ConfigMaps(r.App.Namespace)
	d.records = objcache.New[*corev1.ConfigMap](objcache.For(cms.List, cms.Watch, objcache.ByName(RecordName(r.App.Name))), cfg.Clock)
	if err := d.store.retry.Do(ctx, func(context.Context) error { return d.records.Start(wctx) }); err != nil {
		d.Close()
		return nil, fmt.Errorf("watching release record of %s: %w", r.App, err)
	}

	ctx, d.span = d.tracer.Start(ctx, "switchyard."+name+".run", trace.WithAttributes(
		attribute.String("switchyard.app", r.App.String()),
		attribute.String("switchyard.revision", r.Revision),
	))
	now := cfg.Clock.Now()
	var prevHolder string
	rec, rv, err := d.store.update(ctx, r.App, true, func(rec *Record) error {
		if rec.Lease.Live(now) && rec.Lease.Holder != cfg.Identity && (lapsed == nil || !rec.Lease.same(*lapsed)) {
			return &LockedError{App: r.App, Holder: rec.Lease.Holder, Until: rec.Lease.expiresSeen(now)}
		}
		for _, check := range checks {
			if err := check(rec); err != nil {
				return err
			}
		}
		prevHolder = rec.Lease.Holder
		if rec.Lease.Holder != cfg.Identity {
			rec.Lease.Acquired = now
		}
		rec.Lease.Holder = cfg.Identity
		rec.Lease.Renewed = now
		rec.Lease.Duration = metav1.Duration{Duration: cfg.LeaseDuration}
		if rec.Strategy == "" {
			rec.Strategy = name
		}
		rec.Updated = now
		return nil
	})
	if err != nil {
		d.span.RecordError(err)
		d.Close()
		return nil, err
	}
	d.rec, d.rv = rec, rv
	d.keeper = startKeeper(d)
	if prevHolder != "" && prevHolder != cfg.Identity {
		d.Emit(ctx, Event{Type: EventTakenOver, Message: fmt.Sprintf("lease taken over from %s, whose lease had lapsed", prevHolder)})
	} else {
		d.Emit(ctx, Event{Type: EventLeaseAcquired, Message: "lease acquired"})
	}
	return d, nil
}

// Config returns the driver's options.
func (d *Driver) Config() Config { return d.cfg }

// Clients returns the driver's clients.
func (d *Driver) Clients() Clients { return d.clients }

// Record returns the record as last read or written. Callers must not
// modify it; use Save.
func (d *Driver) Record() *Record {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rec
}

// held returns the record and its resourceVersion.
func (d *Driver) held() (*Record, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rec, d.rv
}

func (d *Driver) hold(rec *Record, rv string) {
	d.mu.Lock()
	d.rec, d.rv = rec, rv
	d.mu.Unlock()
}

// Now returns the driver clock's time.
func (d *Driver) Now() time.Time { return d.cfg.Clock.Now() }

// Retry calls op until it succeeds, fails permanently or ctx ends, backing
// off on the driver's clock between transient errors. The driver counts as
// waiting while it backs off, so an auto-advancing fake clock moves on.
// A driver whose lease may be about to lapse does not call op: it returns
// ErrLeaseLost, so that no write of it can follow another driver's.
func (d *Driver) Retry(ctx context.Context, op func(ctx context.Context) error) error {
	return d.store.retry.Do(ctx, func(ctx context.Context) error {
		if err := d.Fence(); err != nil {
			return backoff.Permanent(err)
		}
		return op(ctx)
	})
}

// pause marks the driver idle for an auto-advancing clock and returns the
// function that marks it busy again.
func (d *Driver) pause() func() {
	for !d.idle() {
		d.busy() // this wait is on its own timer only
	}
	return d.wake
}

func (d *Driver) onRetry(err error, wait time.Duration) {
	d.cfg.Logger.Debug("retrying API call", "app", d.app.String(), "err", err, "wait", wait)
	if d.cfg.Observer != nil {
		d.cfg.Observer(Event{Time: d.Now(), Type: EventRetrying, Strategy: d.name, App: d.app,
			Revision: d.revision, Message: "retrying in " + wait.String(), Err: err})
	}
}

// Save applies mutate to the current record and writes it, renewing the
// lease. mutate may run more than once (after a conflicting write by a
// control request) and must depend only on the record it is given. Save
// returns ErrLeaseLost when another driver holds the lease.
func (d *Driver) Save(ctx context.Context, mutate func(*Record) error) error {
	return d.save(ctx, d.store, mutate)
}

// save is Save through st, whose retrier marks the right goroutine idle
// while it backs off. Record writes need no fence: each is conditional on
// the version read, so none follows another driver's takeover.
func (d *Driver) save(ctx context.Context, st *store, mutate func(*Record) error) error {
	// Another goroutine's write may be backing off on the clock: wait for it
	// as an idle participant, so that an auto-advancing clock moves on.
	select {
	case d.saving <- struct{}{}:
	default:
		resume := func() {}
		if st.retry.Idle != nil {
			resume = st.retry.Idle()
		}
		select {
		case d.saving <- struct{}{}:
			resume()
		case <-ctx.Done():
			resume()
			return ctx.Err()
		}
	}
	defer func() { <-d.saving }()
	now := d.Now()
	known, knownRV := d.held()
	old := known.Phase
	d.emitMu.Lock()
	measured := d.measured
	d.emitMu.Unlock()
	rec, rv, err := st.updateFrom(ctx, d.app, known, knownRV, false, func(r *Record) error {
		if r.Lease.Holder != d.cfg.Identity {
			return fmt.Errorf("release %s now held by %q: %w", d.app, r.Lease.Holder, ErrLeaseLost)
		}
		// While the lease is held, other processes only add requests:
		// anything else in a record read back after a conflict is not
		// theirs to change, and the driver's own copy stands.
		adopt(r, known)
		r.Lease.Renewed = now
		r.Updated = now
		if len(measured) > 0 {
			r.Measurements = append(r.Measurements, measured...)
			if n := len(r.Measurements) - MeasurementLimit; n > 0 {
				r.Measurements = append([]Measurement(nil), r.Measurements[n:]...)
			}
		}
		if mutate != nil {
			return mutate(r)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrLeaseLost) {
			d.keeper.lost(err)
		}
		return err
	}
	d.hold(rec, rv)
	d.keeper.renewed(now)
	if len(measured) > 0 {
		d.emitMu.Lock()
		d.measured = d.measured[len(measured):]
		d.emitMu.Unlock()
	}
	if rec.Phase != old && rec.Phase != "" {
		d.Emit(ctx, Event{Type: EventPhaseChanged, Message: fmt.Sprintf("%s -> %s", orNone(old), rec.Phase)})
	}
	return nil
}

// adopt makes r a copy of ours that keeps the requests of r.
func adopt(r, ours *Record) {
	reqs, seq, uid := r.Requests, r.Seq, r.uid
	*r = *ours.clone()
	r.Requests, r.Seq, r.uid = reqs, seq, uid
}

// OwnerMark is the value of AnnotationOwner on the objects this release
// creates: the app and the UID of its release record.
func (d *Driver) OwnerMark() string { return fmt.Sprintf("%s/%s", d.app.Name, d.Record().uid) }

// Owns reports whether obj may be overwritten, scaled or deleted by this
// app's releases: it carries the app's owner mark, or, written before
// marks existed, it is labelled as this app's and runs a revision of the
// release history.
func (d *Driver) Owns(obj metav1.Object) bool {
	if mark, ok := obj.GetAnnotations()[AnnotationOwner]; ok {
		return mark == d.OwnerMark()
	}
	l := obj.GetLabels()
	if l[LabelManagedBy] != ManagedBy || l[LabelApp] != d.app.Name {
		return false
	}
	_, known := d.Record().Find(l[LabelRevision])
	return known
}

func orNone(p Phase) Phase {
	if p == "" {
		return "None"
	}
	return p
}

// observe hands e to the observer, one event at a time, and keeps
// measurements for the record.
func (d *Driver) observe(e Event) {
	d.emitMu.Lock()
	defer d.emitMu.Unlock()
	if e.Type == EventMeasurement && e.Measurement != nil {
		d.measured = append(d.measured, *e.Measurement)
		if n := len(d.measured) - MeasurementLimit; n > 0 {
			d.measured = d.measured[n:]
		}
	}
	if d.cfg.Observer != nil {
		d.cfg.Observer(e)
	}
}

// Emitter returns a function that reports events from other goroutines,
// such as a background analysis, as Emit would: with the driver's
// strategy, app and revision, and the step given here. Measurements it
// reports are kept in the record at the next Save.
func (d *Driver) Emitter(step int, stepName string) func(Event) {
	name, app, rev, logger, phase := d.name, d.app, d.revision, d.cfg.Logger, Phase("")
	if rec := d.Record(); rec != nil {
		phase = rec.Phase
	}
	return func(e Event) {
		if e.Time.IsZero() {
			e.Time = d.Now()
		}
		e.Strategy, e.App = name, app
		if e.Revision == "" {
			e.Revision = rev
		}
		if e.Phase == "" {
			e.Phase = phase
		}
		if e.StepName == "" && e.Step == 0 {
			e.Step, e.StepName = step, stepName
		}
		if e.StepKind == "" {
			e.StepKind = d.kindOf(e.StepName)
		}
		d.observe(e)
		logger.Info(e.Message, "event", string(e.Type), "app", app.String(), "revision", e.Revision, "step", e.StepName)
	}
}

func (d *Driver) kindOf(step string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if k, ok := d.kinds[step]; ok {
		return k
	}
	return step
}

// Emit fills in the driver's fields of e and reports it to the observer and
// the log; failures, phase changes, handled requests and the end of the run
// also become corev1 Events on the release record.
func (d *Driver) Emit(ctx context.Context, e Event) {
	if e.Time.IsZero() {
		e.Time = d.Now()
	}
	e.Strategy, e.App = d.name, d.app
	if e.Revision == "" {
		e.Revision = d.revision
	}
	if rec := d.Record(); rec != nil {
		if e.Phase == "" {
			e.Phase = rec.Phase
		}
		if e.StepName == "" && e.Step == 0 {
			e.Step, e.StepName = rec.Step, rec.StepName
		}
	}
	if e.StepKind == "" {
		e.StepKind = d.kindOf(e.StepName)
	}
	d.observe(e)
	d.cfg.Logger.Info(e.Message, "event", string(e.Type), "app", d.app.String(), "revision", e.Revision,
		"phase", string(e.Phase), "step", e.StepName)
	// corev1 Events, which cost a request each, are kept for what a person
	// looking at the app wants to know: failures, requests from other
	// processes, takeovers and how a release ended.
	record := false
	switch e.Type {
	case EventStepFailed, EventRequestHandled, EventRunFinished, EventTakenOver:
		record = true
	case EventPhaseChanged:
		record = e.Phase == PhasePaused
	}
	if record {
		warn := e.Err != nil || e.Phase == PhaseAborted || e.Phase == PhaseFailed || e.Type == EventStepFailed
		msg := e.Message
		if e.Err != nil && msg != "" {
			msg += ": " + e.Err.Error()
		} else if e.Err != nil {
			msg = e.Err.Error()
		}
		d.events.record(ctx, warn, string(e.Type), fmt.Sprintf("%s: %s", e.Revision, msg))
	}
}

// StartStep opens a trace span for one step, a child of the run's span, and
// reports its start. Call the
// returned function with the step's error when it ends.
func (d *Driver) StartStep(ctx context.Context, index int, name string) (context.Context, func(error)) {
	// Steps are children of the run's span whatever context the strategy
	// passes along.
	ctx, span := d.tracer.Start(trace.ContextWithSpan(ctx, d.span), "switchyard."+d.name+".step", trace.WithAttributes(
		attribute.Int("switchyard.step.index", index), attribute.String("switchyard.step.name", name)))
	d.Emit(ctx, Event{Type: EventStepStarted, Step: index, StepName: name})
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			d.Emit(ctx, Event{Type: EventStepFailed, Step: index, StepName: name, Err: err})
		} else {
			d.Emit(ctx, Event{Type: EventStepSucceeded, Step: index, StepName: name})
		}
		span.End()
	}
}

// Finish records the terminal phase, puts the revision in the history,
// releases the lease and returns the Result. The driver is closed after it.
func (d *Driver) Finish(ctx context.Context, phase Phase, reason Reason, message string, entry Revision) (*Result, error) {
	return d.finish(ctx, phase, reason, message, entry, nil)
}

// finish is Finish that also makes edit in the same write.
func (d *Driver) finish(ctx context.Context, phase Phase, reason Reason, message string, entry Revision, edit func(*Record) error) (*Result, error) {
	now := d.Now()
	final := message
	err := d.Save(ctx, func(r *Record) error {
		r.Phase, r.Reason, r.Message = phase, reason, message
		if edit != nil {
			if err := edit(r); err != nil {
				return err
			}
		}
		final = r.Message
		r.StepName, r.PauseUntil = "", time.Time{} // no step runs any more
		entry.Revision, entry.Phase, entry.Message = r.Revision, phase, final
		entry.Started, entry.Finished = r.Started, now
		if old, ok := r.Find(r.Revision); ok && entry.Workload == nil {
			entry.Workload, entry.Objects = old.Workload, old.Objects
		}
		r.Remember(entry, d.cfg.HistoryLimit)
		r.Lease.Holder = ""
		// Requests this release could act on are answered by its end;
		// Retry and Undo are for the next Run.
		r.Take(func(q Request) bool { return q.Action != ActionRetry && q.Action != ActionUndo })
		return nil
	})
	if err != nil {
		d.span.RecordError(err)
		d.Close()
		return nil, err
	}
	rec := d.Record()
	res := rec.result(d.app)
	attrs := metric.WithAttributes(attribute.String("switchyard.strategy", d.name), attribute.String("switchyard.phase", string(phase)))
	d.runs.Add(ctx, 1, attrs)
	d.duration.Record(ctx, now.Sub(rec.Started).Seconds(), attrs)
	d.Emit(ctx, Event{Type: EventRunFinished, Message: final})
	if phase != PhaseSucceeded {
		d.span.SetStatus(codes.Error, message)
	}
	d.Close()
	return res, nil
}

// Recorded returns the Result the record holds, for a Run of a release that
// has already ended (Record.Ended); the lease is released and the driver
// closed. Strategies first ask Control.Recorded, which costs one read and
// no write; this covers a release that ended in between.
func (d *Driver) Recorded(ctx context.Context) (*Result, error) {
	err := d.Save(ctx, func(r *Record) error { r.Lease.Holder = ""; return nil })
	res := d.Record().result(d.app)
	d.Close()
	return res, err
}

// Close stops the driver's watches and ends its span without writing: a
// Run that stops early leaves its lease to lapse, and the next driver
// continues from the record.
func (d *Driver) Close() {
	if d.closed {
		return
	}
	d.closed = true
	d.keeper.stop()
	if d.cancel != nil {
		d.cancel()
	}
	if d.unlock != nil {
		d.unlock()
	}
	if d.span != nil {
		d.span.End()
	}
	d.done()
}

package flow

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

	"github.com/switchyard-dev/switchyard/internal/events"
	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/internal/participant"
	"github.com/switchyard-dev/switchyard/internal/retry"
	"github.com/switchyard-dev/switchyard/internal/shared"
	"github.com/switchyard-dev/switchyard/internal/store"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
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
	cfg      strategy.Config
	clients  strategy.Clients
	name     string
	app      types.NamespacedName
	revision string
	store    *store.Store
	rec      *record.Record
	rv       string // resourceVersion of rec
	records  *objcache.Cache[*corev1.ConfigMap]
	watches  *strategy.Watches // cfg.Watches, or the Run's own (owned)
	owned    bool
	events   *events.Sink
	span     trace.Span
	tracer   trace.Tracer
	runs     metric.Int64Counter
	duration metric.Float64Histogram
	idle     func() bool
	wake     func()
	busy     func()
	done     func()
	closed   bool

	// mu guards rec and rv, which the lease keeper also writes; saving
	// serialises record writes.
	mu     sync.Mutex
	saving turns
	keeper *keeper
	unlock func() // releases the process-local hold on the app

	// kinds maps step names to their kinds, for events (see Flow).
	kinds map[string]string

	// emitMu guards measured, the measurements emitted since the last
	// save, and noted, timeline entries, for the record; observerMu
	// serialises calls of the observer.
	emitMu     sync.Mutex
	observerMu sync.Mutex
	measured   []strategy.Measurement
	noted      []record.Entry
}

// Begin starts driving release r of strategy name: it checks cfg, starts a
// watch on the release record, and takes the lease, creating the record when
// the app has none. It returns *LockedError while another driver's lease is
// live. The record it returns is the state to continue from.
//
// Each check is called with the record before the lease is taken; an error
// stops Begin with nothing written (strategies check that a release in
// flight is at one of their steps, with a state they can read).
func Begin(ctx context.Context, name string, clients strategy.Clients, r strategy.Release, cfg strategy.Config, checks ...func(*record.Record) error) (*Driver, error) {
	return begin(ctx, name, clients, r, cfg, nil, checks)
}

// begin is Begin that may also take over lapsed, a lease seen unchanged for
// its whole duration (see Control.WaitUnlocked), whatever its timestamps say.
func begin(ctx context.Context, name string, clients strategy.Clients, r strategy.Release, cfg strategy.Config, lapsed *strategy.Lease, checks []func(*record.Record) error) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clients.Kube == nil {
		return nil, &strategy.ValidationError{Fields: []strategy.FieldError{{Path: "clients.kube", Message: "must be set"}}}
	}
	unlock := store.HoldLocally(clients.Kube, r.App, cfg.Identity)
	if unlock == nil {
		return nil, &strategy.LockedError{App: r.App, Holder: cfg.Identity + " (another Run of this process)", Until: cfg.Clock.Now().Add(cfg.LeaseDuration)}
	}
	d := &Driver{
		cfg: cfg, clients: clients, name: name, app: r.App, revision: r.Revision, unlock: unlock,
	}
	d.idle, d.busy, d.wake, d.done = participant.Join(cfg.Clock, fmt.Sprintf("%s of %s %s by %s", name, r.App, r.Revision, cfg.Identity))
	d.store = &store.Store{Kube: clients.Kube, Retry: retry.Retrier{Clock: cfg.Clock, Max: cfg.MaxRetryBackoff, Idle: d.pause, OnRetry: d.onRetry}}
	d.watches = cfg.Watches
	if d.watches == nil {
		d.watches, d.owned = strategy.NewWatches(clients, strategy.WithClock(cfg.Clock)), true
	} else if shared.Of(d.watches).Caches.Kube != clients.Kube {
		d.Close()
		return nil, &strategy.ValidationError{Fields: []strategy.FieldError{{Path: "options.watches", Message: "were made for other clients than the strategy's"}}}
	}
	if cfg.Events {
		d.events = shared.Of(d.watches).Events()
	}
	d.tracer = cfg.TracerProvider.Tracer(ScopeName, trace.WithInstrumentationVersion(Version))
	meter := cfg.MeterProvider.Meter(ScopeName, metric.WithInstrumentationVersion(Version))
	d.runs, _ = meter.Int64Counter("switchyard.runs", metric.WithDescription("Runs finished, by strategy and phase."))
	d.duration, _ = meter.Float64Histogram("switchyard.run.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from the start of a release to its end."))

	err := d.store.Retry.Do(ctx, func(ctx context.Context) error {
		var err error
		d.records, err = shared.Of(d.watches).Caches.Records(ctx, r.App.Namespace)
		return err
	})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("watching release record of %s: %w", r.App, err)
	}

	ctx, d.span = d.tracer.Start(ctx, "switchyard."+name+".run", trace.WithAttributes(
		attribute.String("switchyard.app", r.App.String()),
		attribute.String("switchyard.revision", r.Revision),
	))
	now := cfg.Clock.Now()
	var prevHolder string
	// The record as the watch has it saves a read when nobody wrote since;
	// the write is conditional, and a conflict reads it.
	var known *record.Record
	var knownRV string
	if cm, ok := d.records.Get(r.App.Namespace, strategy.RecordName(r.App.Name)); ok {
		if rec, err := record.Decode(r.App, cm); err == nil {
			known, knownRV = rec, cm.ResourceVersion
		}
	}
	rec, rv, err := d.store.UpdateFrom(ctx, r.App, known, knownRV, true, func(rec *record.Record) error {
		if rec.Lease.Live(now) && rec.Lease.Holder != cfg.Identity && (lapsed == nil || !rec.Lease.Same(*lapsed)) {
			return &strategy.LockedError{App: r.App, Holder: rec.Lease.Holder, Until: rec.Lease.ExpiresSeen(now)}
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
		d.Emit(ctx, strategy.Event{Type: strategy.EventTakenOver, Message: fmt.Sprintf("lease taken over from %s, whose lease had lapsed", prevHolder)})
	} else {
		d.Emit(ctx, strategy.Event{Type: strategy.EventLeaseAcquired, Message: "lease acquired"})
	}
	return d, nil
}

// Watches returns the watch caches the Run uses: the ones given with
// strategy.WithWatches, or the Run's own, stopped by Close.
func (d *Driver) Watches() *strategy.Watches { return d.watches }

// Config returns the driver's options.
func (d *Driver) Config() strategy.Config { return d.cfg }

// Clients returns the driver's clients.
func (d *Driver) Clients() strategy.Clients { return d.clients }

// Record returns the record as last read or written. Callers must not
// modify it; use Save.
func (d *Driver) Record() *record.Record {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rec
}

// held returns the record and its resourceVersion.
func (d *Driver) held() (*record.Record, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rec, d.rv
}

func (d *Driver) hold(rec *record.Record, rv string) {
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
	return d.store.Retry.Do(ctx, func(ctx context.Context) error {
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
		d.cfg.Observer(strategy.Event{Time: d.Now(), Type: strategy.EventRetrying, Strategy: d.name, App: d.app,
			Revision: d.revision, Message: "retrying in " + wait.String(), Err: err})
	}
}

// Save applies mutate to the current record and writes it, renewing the
// lease. mutate may run more than once (after a conflicting write by a
// control request) and must depend only on the record it is given. Save
// returns ErrLeaseLost when another driver holds the lease.
func (d *Driver) Save(ctx context.Context, mutate func(*record.Record) error) error {
	return d.save(ctx, d.store, mutate)
}

// save is Save through st, whose retrier marks the right goroutine idle
// while it backs off. Record writes need no fence: each is conditional on
// the version read, so none follows another driver's takeover.
func (d *Driver) save(ctx context.Context, st *store.Store, mutate func(*record.Record) error) error {
	// Another goroutine's write may be backing off on the clock: wait for it
	// as an idle participant, so that an auto-advancing clock moves on. The
	// write before hands the turn over, marking the waiter busy first.
	if err := d.saving.acquire(ctx, st.Retry.Idle); err != nil {
		return err
	}
	defer d.saving.release()
	now := d.Now()
	known, knownRV := d.held()
	old := known.Phase
	d.emitMu.Lock()
	measured := d.measured
	d.emitMu.Unlock()
	noted := d.takeNoted()
	rec, rv, err := st.UpdateFrom(ctx, d.app, known, knownRV, false, func(r *record.Record) error {
		if r.Lease.Holder != d.cfg.Identity {
			return fmt.Errorf("release %s now held by %q: %w", d.app, r.Lease.Holder, strategy.ErrLeaseLost)
		}
		// While the lease is held, other processes only add requests:
		// anything else in a record read back after a conflict is not
		// theirs to change, and the driver's own copy stands.
		adopt(r, known)
		r.Lease.Renewed = now
		r.Updated = now
		if len(measured) > 0 {
			r.Measurements = append(r.Measurements, measured...)
			if n := len(r.Measurements) - strategy.MeasurementLimit; n > 0 {
				r.Measurements = append([]strategy.Measurement(nil), r.Measurements[n:]...)
			}
		}
		r.AppendTimeline(noted...)
		b := beforeWrite(r)
		if mutate != nil {
			if err := mutate(r); err != nil {
				return err
			}
		}
		b.noteChanges(r, now)
		return nil
	})
	if err != nil {
		d.putBack(noted)
		if errors.Is(err, strategy.ErrLeaseLost) {
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
		d.Emit(ctx, strategy.Event{Type: strategy.EventPhaseChanged, Message: fmt.Sprintf("%s -> %s", orNone(old), rec.Phase)})
	}
	return nil
}

// adopt makes r a copy of ours that keeps the requests of r.
func adopt(r, ours *record.Record) {
	reqs, seq, uid := r.Requests, r.Seq, r.UID()
	*r = *ours.Clone()
	r.Requests, r.Seq = reqs, seq
	r.SetUID(uid)
}

// OwnerMark is the value of AnnotationOwner on the objects this release
// creates: the app and the UID of its release record.
func (d *Driver) OwnerMark() string { return fmt.Sprintf("%s/%s", d.app.Name, d.Record().UID()) }

// Owns reports whether obj may be overwritten, scaled or deleted by this
// app's releases: it carries the app's owner mark, or, written before
// marks existed, it is labelled as this app's and runs a revision of the
// release history.
func (d *Driver) Owns(obj metav1.Object) bool {
	if mark, ok := obj.GetAnnotations()[strategy.AnnotationOwner]; ok {
		return mark == d.OwnerMark()
	}
	l := obj.GetLabels()
	if l[strategy.LabelManagedBy] != strategy.ManagedBy || l[strategy.LabelApp] != d.app.Name {
		return false
	}
	_, known := d.Record().Find(l[strategy.LabelRevision])
	return known
}

func orNone(p strategy.Phase) strategy.Phase {
	if p == "" {
		return "None"
	}
	return p
}

// observe hands e to the observer, one event at a time, and keeps
// measurements and timeline entries for the record.
func (d *Driver) observe(e strategy.Event) {
	d.emitMu.Lock()
	d.note(e)
	if e.Type == strategy.EventMeasurement && e.Measurement != nil {
		d.measured = append(d.measured, *e.Measurement)
		if n := len(d.measured) - strategy.MeasurementLimit; n > 0 {
			d.measured = d.measured[n:]
		}
	}
	d.emitMu.Unlock()
	// The observer runs outside emitMu, which saves take: a slow
	// observer delays only the next observer call, never a write.
	if d.cfg.Observer != nil {
		d.observerMu.Lock()
		defer d.observerMu.Unlock()
		d.cfg.Observer(e)
	}
}

// Emitter returns a function that reports events from other goroutines,
// such as a background analysis, as Emit would: with the driver's
// strategy, app and revision, and the step given here. Measurements it
// reports are kept in the record at the next Save.
func (d *Driver) Emitter(step int, stepName string) func(strategy.Event) {
	name, app, rev, logger, phase := d.name, d.app, d.revision, d.cfg.Logger, strategy.Phase("")
	if rec := d.Record(); rec != nil {
		phase = rec.Phase
	}
	return func(e strategy.Event) {
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
func (d *Driver) Emit(ctx context.Context, e strategy.Event) {
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
	case strategy.EventStepFailed, strategy.EventRequestHandled, strategy.EventRunFinished, strategy.EventTakenOver:
		record = true
	case strategy.EventPhaseChanged:
		record = e.Phase == strategy.PhasePaused
	}
	if record {
		warn := e.Err != nil || e.Phase == strategy.PhaseAborted || e.Phase == strategy.PhaseFailed || e.Type == strategy.EventStepFailed
		msg := e.Message
		if e.Err != nil && msg != "" {
			msg += ": " + e.Err.Error()
		} else if e.Err != nil {
			msg = e.Err.Error()
		}
		d.events.Emit(d.app, d.cfg.Identity, warn, string(e.Type), fmt.Sprintf("%s: %s", e.Revision, msg))
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
	d.Emit(ctx, strategy.Event{Type: strategy.EventStepStarted, Step: index, StepName: name})
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			d.Emit(ctx, strategy.Event{Type: strategy.EventStepFailed, Step: index, StepName: name, Err: err})
		} else {
			d.Emit(ctx, strategy.Event{Type: strategy.EventStepSucceeded, Step: index, StepName: name})
		}
		span.End()
	}
}

// Finish records the terminal phase, puts the revision in the history,
// releases the lease and returns the Result. The driver is closed after it.
func (d *Driver) Finish(ctx context.Context, phase strategy.Phase, reason strategy.Reason, message string, entry strategy.Revision) (*strategy.Result, error) {
	return d.finish(ctx, phase, reason, message, entry, nil)
}

// finish is Finish that also makes edit in the same write.
func (d *Driver) finish(ctx context.Context, phase strategy.Phase, reason strategy.Reason, message string, entry strategy.Revision, edit func(*record.Record) error) (*strategy.Result, error) {
	now := d.Now()
	final := message
	err := d.Save(ctx, func(r *record.Record) error {
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
		r.Take(func(q strategy.Request) bool {
			return q.Action != strategy.ActionRetry && q.Action != strategy.ActionUndo
		})
		return nil
	})
	if err != nil {
		d.span.RecordError(err)
		d.Close()
		return nil, err
	}
	rec := d.Record()
	res := resultOf(d.app, rec)
	attrs := metric.WithAttributes(attribute.String("switchyard.strategy", d.name), attribute.String("switchyard.phase", string(phase)))
	d.runs.Add(ctx, 1, attrs)
	d.duration.Record(ctx, now.Sub(rec.Started).Seconds(), attrs)
	d.Emit(ctx, strategy.Event{Type: strategy.EventRunFinished, Message: final})
	if phase != strategy.PhaseSucceeded {
		d.span.SetStatus(codes.Error, message)
	}
	d.Close()
	return res, nil
}

// Recorded returns the Result the record holds, for a Run of a release that
// has already ended (Record.Ended); the lease is released and the driver
// closed. Strategies first ask Control.Recorded, which costs one read and
// no write; this covers a release that ended in between.
func (d *Driver) Recorded(ctx context.Context) (*strategy.Result, error) {
	err := d.Save(ctx, func(r *record.Record) error { r.Lease.Holder = ""; return nil })
	res := resultOf(d.app, d.Record())
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
	if d.owned {
		d.watches.Close()
	}
	if d.unlock != nil {
		d.unlock()
	}
	if d.span != nil {
		d.span.End()
	}
	d.done()
}

// BeginReplacing is Begin for a strategy whose new release replaces one in
// flight under another driver: when the lease is held, it asks that driver
// to stop (Replace), waits for the lease to be let go, and begins. The
// driver in flight decides, in the one table of requests (see Flow), what
// stopping leaves in place: before its switch it stops at once; after it,
// it finishes first.
func BeginReplacing(ctx context.Context, name string, clients strategy.Clients, r strategy.Release, cfg strategy.Config, c *strategy.Control, checks ...func(*record.Record) error) (*Driver, error) {
	var lapsed *strategy.Lease
	for {
		d, err := begin(ctx, name, clients, r, cfg, lapsed, checks)
		var locked *strategy.LockedError
		if !errors.As(err, &locked) {
			return d, err
		}
		if err := c.Replace(ctx, r.App, r.Revision); err != nil {
			return nil, err
		}
		if lapsed, err = waitUnlocked(ctx, clients, cfg, r.App); err != nil {
			return nil, err
		}
	}
}

// waitUnlocked is Control.WaitUnlocked that also returns the lease it saw
// lapse unchanged while its timestamps still say it is live, for begin to
// take over.
func waitUnlocked(ctx context.Context, clients strategy.Clients, cfg strategy.Config, app types.NamespacedName) (*record.Lease, error) {
	// The watch counts itself as a participant of an auto-advancing clock.
	st := &store.Store{Kube: clients.Kube, Retry: retry.Retrier{Clock: cfg.Clock, Max: cfg.MaxRetryBackoff}}
	return st.WaitUnlocked(ctx, app, cfg.Identity, func(err error) error { return &strategy.WatchError{Err: err} })
}

// resultOf is the outcome a record holds, as a Result.
func resultOf(app types.NamespacedName, r *record.Record) *strategy.Result {
	return &strategy.Result{Strategy: r.Strategy, App: app, Revision: r.Revision, Phase: r.Phase, Reason: r.Reason,
		Stable: r.Stable, Message: r.Message, Started: r.Started, Finished: r.Updated}
}

// Track registers the caller with a clock that moves itself when every
// participant waits (fake.Clock in auto-advance mode): the caller calls
// idle right before it blocks, busy right after it wakes, and done when it
// finishes. With any other clock the functions do nothing. Code a strategy
// runs in its own goroutines (checks that wait, watch consumers) uses it.
func Track(clk any) (idle, busy, done func()) { return participant.Track(clk) }

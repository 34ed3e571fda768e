package flow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
	"k8s.io/apimachinery/pkg/types"
)

// StepAborting is the step of a release whose abort is under way: traffic
// goes back to the previous revision, then the aborted one is scaled down
// once the abort delay has passed.
const StepAborting = record.StepAborting

// Step is one named step of a release.
type Step struct {
	Name string
	// Kind is what the step does, reported in events as StepKind; empty
	// is the name.
	Kind string
	// Run does the step. It returns the name of the step to go to, "" for
	// the next in order. It records what must survive a crash with
	// Flow.Enter; a step that changed nothing and waited for nothing need
	// not write, since repeating it after a crash is free.
	Run func(ctx context.Context) (next string, err error)
	// Before and After name the moments whose gates (Hooks.Gates) run
	// before the step and after it succeeds; empty for none.
	Before, After strategy.Moment
}

// Hooks are what the flow needs from a strategy.
type Hooks struct {
	// Sources are the watches every wait of the release listens to.
	Sources func() []Source
	// Rollback sends all traffic back to the revision that served before
	// the release, at once. It returns an edit for the record write that
	// records the abort (nil for none). It is called for an Abort, a
	// failed check, a missed deadline, an Undo to the previous revision
	// after the switch, and, with ReasonSuperseded before the switch, when
	// a newer revision replaces the release.
	Rollback func(ctx context.Context, reason strategy.Reason) (func(*record.Record) error, error)
	// Retire removes the aborted revision's pods; it runs once AbortDelay
	// has passed since the abort.
	Retire     func(ctx context.Context) error
	AbortDelay time.Duration
	// Done is the message of a release that succeeded.
	Done func() string
	// FullPromotion lets PromoteFull skip the remaining steps before the
	// switch (canary); otherwise PromoteFull acts as Promote.
	FullPromotion bool
	// ProgressDeadline is named in the message of a missed deadline.
	ProgressDeadline time.Duration
	// DeadlineFails ends a release that missed its progress deadline in
	// phase Failed rather than Aborted (after the same Rollback).
	DeadlineFails bool
	// Paused, when set, is told after a Pause or Resume was taken, for
	// strategies that hold their workload too (rolling pauses its
	// Deployment).
	Paused func(ctx context.Context, paused bool) error
	// Gates run at the moments steps name (Step.Before, Step.After) and,
	// for OnRollback, once traffic went back after an abort. Input is what
	// they see (its Moment is set for each).
	Gates strategy.Gates
	Input func() strategy.CheckInput
}

// Flow is the state machine of one release, shared by every strategy: it
// runs the strategy's named steps in order from where the record says,
// and handles control requests, checks, background analysis, aborts and
// progress deadlines in one place. A strategy declares its steps and
// hooks; it never handles a request itself.
type Flow struct {
	d        *Driver
	steps    []Step
	hooks    Hooks
	carry    []func(*record.Record) error
	running  map[*checkRun]context.CancelFunc
	bg       *background
	bgJudged bool // the background checks failed and were judged
	full     bool // a PromoteFull arrived during a wait that could not end
	cur      int  // the step running, -1 before the first
}

// New returns the flow of the release d drives.
func New(d *Driver, steps []Step, hooks Hooks) *Flow {
	if hooks.Sources == nil {
		hooks.Sources = func() []Source { return nil }
	}
	kinds := map[string]string{}
	for _, s := range steps {
		if s.Kind != "" {
			kinds[s.Name] = s.Kind
		}
	}
	d.mu.Lock()
	d.kinds = kinds
	d.mu.Unlock()
	return &Flow{d: d, steps: steps, hooks: hooks, running: map[*checkRun]context.CancelFunc{}, cur: -1}
}

// ended unwinds the steps of a release that ended early (aborted or
// replaced) with its Result.
type ended struct {
	res *strategy.Result
	err error
}

func (e *ended) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("release ended %s", e.res.Phase)
}

func (e *ended) Unwrap() error { return e.err }

func end(res *strategy.Result, err error) error { return &ended{res: res, err: err} }

// Ended reports whether err is the end of a release a flow returns from a
// step (an abort, a replacement), so that a step passes it on unchanged.
func Ended(err error) bool {
	var e *ended
	return errors.As(err, &e)
}

func (f *Flow) index(name string) int {
	return slices.IndexFunc(f.steps, func(s Step) bool { return s.Name == name })
}

// Run drives the release from the step the record names to its end, and
// returns its Result: Succeeded after the last step, or how it ended early.
func (f *Flow) Run(ctx context.Context) (*strategy.Result, error) {
	ctx, cancel := f.d.Guard(ctx)
	defer cancel()
	defer f.stopAll()
	rec := f.d.Record()
	if rec.StepName == record.StepAborting {
		return outcome(f.rollBack(ctx))
	}
	i := f.index(rec.StepName)
	if i < 0 {
		return nil, &strategy.RecordError{App: f.d.app, Name: strategy.RecordName(f.d.app.Name),
			Reason: fmt.Sprintf("step %q is not a step of this release", rec.StepName), Err: strategy.ErrCorruptRecord}
	}
	for i < len(f.steps) {
		s := f.steps[i]
		f.cur = i
		sctx, done := f.d.StartStep(ctx, i, s.Name)
		next, err := f.runStep(sctx, s)
		if Ended(err) {
			done(nil)
		} else {
			done(err)
		}
		if err != nil {
			if !Ended(err) {
				f.stopped(ctx, err)
			}
			return outcome(err)
		}
		if f.full && f.hooks.FullPromotion && next == "" {
			if j := f.index(FullPromotionStep); j > i+1 {
				next = FullPromotionStep
			}
		}
		if next == "" {
			i++
			continue
		}
		if i = f.index(next); i < 0 {
			return nil, fmt.Errorf("step %s: no step %q", s.Name, next)
		}
	}
	return f.d.Finish(ctx, strategy.PhaseSucceeded, "", f.hooks.Done(), strategy.Revision{})
}

// runStep runs s between the gates of its moments.
func (f *Flow) runStep(ctx context.Context, s Step) (string, error) {
	if err := f.gate(ctx, s.Before); err != nil {
		return "", err
	}
	next, err := s.Run(ctx)
	if err != nil {
		return next, err
	}
	return next, f.gate(ctx, s.After)
}

// gate runs the gates of moment m as checks of the release.
func (f *Flow) gate(ctx context.Context, m strategy.Moment) error {
	checks := f.hooks.Gates.At(m)
	if len(checks) == 0 || f.hooks.Input == nil {
		return nil
	}
	in := f.hooks.Input()
	in.Moment = m
	return f.Check(ctx, string(m)+" gates", checks, in)
}

// here records the running step in r, so that a write made while the step
// waits (a pause for a decision, a request) shows where the release is: a
// step that ran without writing left the record at the one before.
func (f *Flow) here(r *record.Record) {
	if f.cur >= 0 && r.StepName != record.StepAborting {
		r.Step, r.StepName = f.cur, f.steps[f.cur].Name
	}
}

// stopped records, as a best effort, why a release stopped on an error it
// could not get past (a forbidden call, say), and lets its lease go so
// that any driver may continue it at once; the state stays as it was. A
// driver whose lease is gone or whose caller gave up writes nothing.
func (f *Flow) stopped(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, strategy.ErrLeaseLost) {
		return
	}
	_ = f.d.Save(ctx, func(r *record.Record) error {
		r.Message = "stopped: " + err.Error()
		r.Lease.Holder = ""
		return nil
	})
}

// FullPromotionStep is the name of the step a PromoteFull jumps to.
const FullPromotionStep = "promote"

// PromotedFull reports whether a PromoteFull was taken; the strategy jumps
// to its promotion.
func (f *Flow) PromotedFull() bool { return f.full }

func outcome(err error) (*strategy.Result, error) {
	var e *ended
	if errors.As(err, &e) {
		return e.res, e.err
	}
	return nil, err
}

// Enter records that the release is at step name, applying edit and the
// edits queued with Later in the same write.
func (f *Flow) Enter(ctx context.Context, name string, edit func(*record.Record) error) error {
	i := f.index(name)
	if i < 0 {
		return fmt.Errorf("no step %q", name)
	}
	err := f.d.Save(ctx, func(r *record.Record) error {
		for _, c := range f.carry {
			if err := c(r); err != nil {
				return err
			}
		}
		if edit != nil {
			if err := edit(r); err != nil {
				return err
			}
		}
		r.Step, r.StepName = i, name
		return nil
	})
	if err == nil {
		f.carry = nil
	}
	return err
}

// Later has the next write of the record also make edit: what it records
// is found again by repeating the step after a crash, so it need not cost
// a write of its own.
func (f *Flow) Later(edit func(*record.Record) error) { f.carry = append(f.carry, edit) }

// Save writes the record with edit and the queued edits, at the same step.
func (f *Flow) Save(ctx context.Context, edit func(*record.Record) error) error {
	return f.Enter(ctx, f.d.Record().StepName, edit)
}

// StepCheck returns a check for Begin that a release of strategy in flight
// is at one of steps (or aborting), so that an edited record cannot send a
// driver to a step that does not exist or skip to the end.
func StepCheck(name, revision string, steps []string) func(*record.Record) error {
	return func(r *record.Record) error {
		if r.Strategy != name || r.Revision != revision || !r.InFlight() {
			return nil
		}
		if r.StepName == record.StepAborting {
			return nil
		}
		i := slices.Index(steps, r.StepName)
		if i < 0 || i != r.Step {
			return &record.RecordError{Name: record.Name(r.App), Err: record.ErrCorruptRecord,
				Reason: fmt.Sprintf("step %d %q is not a step of this %s release", r.Step, r.StepName, name)}
		}
		return nil
	}
}

// StateCheck returns a check for Begin that the state a release of
// strategy recorded decodes into a T and passes valid, so that an edited
// record cannot send writes to objects the strategy never chose.
func StateCheck[T any](name string, app types.NamespacedName, valid func(*T) error) func(*record.Record) error {
	return func(r *record.Record) error {
		if r.Strategy != name || len(r.State) == 0 {
			return nil
		}
		var st T
		err := r.DecodeState(&st)
		if err == nil {
			err = valid(&st)
		}
		if err != nil {
			return &record.RecordError{App: app, Name: record.Name(app.Name), Reason: err.Error(), Err: record.ErrCorruptRecord}
		}
		return nil
	}
}

// Shipped checks that a Run asked to ship revision ended with it: a Run
// that shipped another revision instead (an Undo that was pending in the
// record) returns its Result with an error that matches ErrSuperseded and
// names the revision that serves.
func Shipped(revision string, res *strategy.Result, err error) (*strategy.Result, error) {
	if err != nil || res == nil || res.Revision == revision {
		return res, err
	}
	return res, fmt.Errorf("asked to ship %s of %s, but %s was released instead (a pending Undo) and %s serves: %w",
		revision, res.App, res.Revision, res.Stable, strategy.ErrSuperseded)
}

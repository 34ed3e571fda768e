package flow

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/switchyard-dev/switchyard/internal/participant"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// Await is one wait of a release.
type Await struct {
	// Reason is reported when the wait blocks.
	Reason string
	// Cond reports whether the wait is over, and when to check again if
	// the answer may change with time alone (zero: only on changes). Nil:
	// only time and requests end the wait.
	Cond func() (bool, time.Time)
	// Until ends the wait with Elapsed; Deadline aborts the release for
	// missing its progress deadline. Zero: none.
	Until, Deadline time.Time
	// Promotable lets Promote end the wait.
	Promotable bool
	// Decision marks a wait for a person's decision: only Promote (go on)
	// or Abort ends it, and Resume leaves the release Paused.
	Decision bool
	// Sources are watched besides the strategy's.
	Sources []Source
}

// Outcome says how a wait ended when the release goes on.
type Outcome int

// How Await ends when the release goes on.
const (
	Met          Outcome = iota + 1 // Cond holds
	Elapsed                         // Until came
	Promoted                        // a Promote was taken
	PromotedFull                    // a PromoteFull was taken
)

// Await waits as a says, and handles every control request that arrives
// meanwhile: Pause and Resume hold and free the clock of the wait; Abort
// ends the release; Promote ends a promotable wait; a newer revision
// stops the release before the switch. A release that ends returns an
// error for which Ended is true; steps pass it on.
func (f *Flow) Await(ctx context.Context, a Await) (Outcome, error) {
	for {
		if err := f.judgeBackground(ctx); err != nil {
			return 0, err
		}
		sources := append(f.hooks.Sources(), a.Sources...)
		if f.bg != nil {
			sources = append(sources, f.bg.failed)
		}
		bg := f.bg
		cond := func() (bool, time.Time) {
			if bg.hasFailed() {
				return true, time.Time{}
			}
			if a.Cond == nil {
				return false, time.Time{}
			}
			return a.Cond()
		}
		pausedAt := time.Time{}
		if f.d.Record().Paused {
			pausedAt = f.d.Now()
		}
		held, err := f.d.Hold(ctx, Hold{Reason: a.Reason, Cond: cond, Until: a.Until, Deadline: a.Deadline,
			Sources: sources, Takes: func(q strategy.Request) bool { return f.takes(q, a) }})
		if !pausedAt.IsZero() && !a.Deadline.IsZero() {
			// The progress deadline does not run while a person holds the
			// release.
			a.Deadline = a.Deadline.Add(f.d.Now().Sub(pausedAt))
		}
		if err != nil {
			return 0, err
		}
		switch held {
		case HeldMet:
			if bg.hasFailed() {
				continue // judged at the top of the loop
			}
			return Met, nil
		case HeldUntil:
			return Elapsed, nil
		case HeldPastDeadline:
			return 0, f.Abort(ctx, strategy.ReasonProgressDeadline,
				fmt.Sprintf("%s: not done within the progress deadline of %s", a.Reason, f.hooks.ProgressDeadline))
		case HeldForRequest:
			out, err := f.handle(ctx, a)
			if err != nil || out != 0 {
				return out, err
			}
		}
	}
}

// takes is the one table of which requests a wait acts on now. Requests
// it does not take stay in the record: Retry for the next Run, a Promote
// for the next promotable wait, and after the switch a Replace for the
// next driver once this release ends.
func (f *Flow) takes(q strategy.Request, a Await) bool {
	rec := f.d.Record()
	own := q.Revision == f.d.revision
	switch q.Action {
	case strategy.ActionRetry:
		return false
	case strategy.ActionAbort, strategy.ActionPause, strategy.ActionResume:
		return true
	case strategy.ActionPromote:
		return a.Promotable
	case strategy.ActionPromoteFull:
		return a.Promotable || f.hooks.FullPromotion && !rec.Switched
	case strategy.ActionReplace:
		return own || !rec.Switched
	case strategy.ActionUndo:
		return own || !rec.Switched || q.Revision == rec.Previous && !rec.Committed
	}
	return false
}

// ending says whether taking q ends the release, and why: an Abort, or a
// newer revision (Replace, Undo) before the switch, or an Undo to the
// previous revision after it.
func (f *Flow) ending(q strategy.Request, r *record.Record) (strategy.Reason, string, bool) {
	switch {
	case q.Action == strategy.ActionAbort && !r.Committed:
		return strategy.ReasonRequested, "aborted by " + q.By, true
	case q.Action == strategy.ActionReplace && q.Revision != f.d.revision:
		return strategy.ReasonSuperseded, fmt.Sprintf("replaced by %s (%s from %s)", q.Revision, q.Action, q.By), true
	case q.Action == strategy.ActionUndo && q.Revision != f.d.revision:
		return strategy.ReasonSuperseded, fmt.Sprintf("undone to %s (%s from %s)", q.Revision, q.Action, q.By), true
	}
	return "", "", false
}

// handle takes the pending requests the wait acts on and carries them out.
// A request that ends the release is taken in the same write that records
// the abort, so that a driver that dies right after still sends traffic
// back when it resumes.
func (f *Flow) handle(ctx context.Context, a Await) (Outcome, error) {
	var taken []strategy.Request
	ends := false
	err := f.d.Save(ctx, func(r *record.Record) error {
		f.here(r)
		taken = r.Take(func(q strategy.Request) bool {
			// An Undo before the switch stops this release and stays in
			// the record for the Run that ships its revision.
			keep := q.Action == strategy.ActionUndo && q.Revision != f.d.revision && !r.Switched
			return f.takes(q, a) && !keep
		})
		for _, q := range r.Requests {
			if q.Action == strategy.ActionUndo && q.Revision != f.d.revision && !r.Switched {
				taken = append(taken, q)
			}
		}
		ends = false
		for _, q := range taken {
			if reason, msg, ok := f.ending(q, r); ok {
				f.intend(r, reason, msg)
				ends = true
				break
			}
			r.PauseOrResume(q, a.Decision)
			if r.Phase == strategy.PhaseProgressing && r.Switched {
				r.Phase = strategy.PhasePromoting
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var out Outcome
	rec := f.d.Record()
	if !ends && f.hooks.Paused != nil && slices.ContainsFunc(taken, func(q strategy.Request) bool {
		return q.Action == strategy.ActionPause || q.Action == strategy.ActionResume
	}) {
		if err := f.hooks.Paused(ctx, rec.Paused); err != nil {
			return 0, err
		}
	}
	for _, q := range taken {
		msg := fmt.Sprintf("%s from %s", q.Action, q.By)
		if _, _, ok := f.ending(q, rec); ok && ends {
			f.d.Emit(ctx, strategy.Event{Type: strategy.EventRequestHandled, Message: msg})
			return 0, f.rollBack(ctx)
		}
		switch q.Action {
		case strategy.ActionAbort:
			f.d.Emit(ctx, strategy.Event{Type: strategy.EventRequestHandled, Message: msg + " refused: the previous revision's pods are being removed"})
		case strategy.ActionReplace, strategy.ActionUndo:
			f.d.Emit(ctx, strategy.Event{Type: strategy.EventRequestHandled, Message: msg + ": this release ships " + q.Revision})
		case strategy.ActionPromote:
			f.d.Emit(ctx, strategy.Event{Type: strategy.EventRequestHandled, Message: msg})
			out = max(out, Promoted)
		case strategy.ActionPromoteFull:
			f.d.Emit(ctx, strategy.Event{Type: strategy.EventRequestHandled, Message: msg})
			if f.hooks.FullPromotion && !rec.Switched {
				f.full = true
				if a.Promotable {
					out = PromotedFull
				}
			} else {
				out = max(out, Promoted)
			}
		default:
			f.d.Emit(ctx, strategy.Event{Type: strategy.EventRequestHandled, Message: msg})
		}
	}
	return out, nil
}

// Decide pauses the release until a person promotes it (the release goes
// on) or aborts it.
func (f *Flow) Decide(ctx context.Context, why string) (Outcome, error) {
	if err := f.d.Save(ctx, func(r *record.Record) error {
		f.here(r)
		r.Phase, r.Message = strategy.PhasePaused, why
		return nil
	}); err != nil {
		return 0, err
	}
	out, err := f.Await(ctx, Await{Reason: why, Promotable: true, Decision: true})
	if err != nil {
		return 0, err
	}
	return out, f.d.Save(ctx, func(r *record.Record) error {
		r.Phase, r.Message, r.Paused = strategy.PhaseProgressing, "", false
		if r.Switched {
			r.Phase = strategy.PhasePromoting
		}
		return nil
	})
}

// Abort sends all traffic back to the previous revision at once (the
// strategy's Rollback), records the release as Aborted for reason, and
// ends it once the abort delay has passed and the aborted revision is
// retired. A release replaced before its switch ends at once: the next
// release takes its slot over as it is. Abort returns the end of the
// release as an error for which Ended is true.
func (f *Flow) Abort(ctx context.Context, reason strategy.Reason, msg string) error {
	if f.d.Record().Committed {
		return fmt.Errorf("cannot abort %s: the previous revision's pods are being removed", f.d.app)
	}
	if err := f.d.Save(ctx, func(r *record.Record) error { f.intend(r, reason, msg); return nil }); err != nil {
		return err
	}
	return f.rollBack(ctx)
}

// intend records in r that the release is being aborted for reason, before
// anything moves: a driver that resumes a record at StepAborting sends the
// traffic back again (Rollback is idempotent) and goes on from there.
func (f *Flow) intend(r *record.Record, reason strategy.Reason, msg string) {
	phase := strategy.PhaseAborted
	if reason == strategy.ReasonProgressDeadline && f.hooks.DeadlineFails {
		phase = strategy.PhaseFailed
	}
	r.Phase, r.Reason, r.Message, r.StepName = phase, reason, msg, StepAborting
	r.Paused, r.PauseUntil = false, time.Time{}
}

// rollBack carries out the abort the record holds: the checks stop,
// traffic goes back, and the release ends once the abort delay has
// passed.
func (f *Flow) rollBack(ctx context.Context) error {
	f.stopAll()
	rec := f.d.Record()
	edit, err := f.hooks.Rollback(ctx, rec.Reason)
	if err != nil {
		return err
	}
	if rec.Reason == strategy.ReasonSuperseded && !rec.Switched {
		return end(f.d.finish(ctx, rec.Phase, rec.Reason, rec.Message, strategy.Revision{}, edit))
	}
	if err := f.d.Save(ctx, func(r *record.Record) error {
		if r.Aborted.IsZero() {
			r.Aborted = f.d.Now()
		}
		r.Switched = false
		if edit != nil {
			return edit(r)
		}
		return nil
	}); err != nil {
		return err
	}
	f.rolledBack(ctx)
	return f.finishAbort(ctx)
}

// rolledBack runs the OnRollback gates once traffic is back. They report
// only: their outcome is an event, and the release ends aborted anyway.
func (f *Flow) rolledBack(ctx context.Context) {
	checks := f.hooks.Gates.OnRollback
	if len(checks) == 0 || f.hooks.Input == nil {
		return
	}
	in := f.hooks.Input()
	in.Moment = strategy.OnRollback
	rec := f.d.Record()
	in.Emit = f.d.Emitter(rec.Step, rec.StepName)
	g := participant.Go(f.d.cfg.Clock)
	in.Clock, in.Idle = g, g.Idle
	done := newSignal()
	go func() {
		defer g.Done()
		defer done.fire()
		_ = runChecks(ctx, checks, in)
	}()
	_, _ = f.d.Wait(ctx, WaitFor{Cond: func() (bool, error) { return done.isFired(), nil }, Sources: []Source{done},
		Reason: "running the OnRollback gates"})
	<-done.Changed()
}

// finishAbort retires the aborted revision once the abort delay has
// passed, and ends the release.
func (f *Flow) finishAbort(ctx context.Context) error {
	rec := f.d.Record()
	if delay := f.hooks.AbortDelay; delay > 0 {
		if _, err := f.d.Wait(ctx, WaitFor{Until: rec.Aborted.Add(delay),
			Reason: fmt.Sprintf("aborted revision keeps running %s", delay)}); err != nil {
			return err
		}
	}
	if f.hooks.Retire != nil {
		if err := f.hooks.Retire(ctx); err != nil {
			return err
		}
	}
	return end(f.d.Finish(ctx, rec.Phase, rec.Reason, rec.Message, strategy.Revision{}))
}

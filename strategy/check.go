package strategy

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/utils/clock"
)

// Check is a gate a strategy runs at a fixed point of a release, such as
// before and after promotion. A nil error passes; any error fails the check
// and the release is aborted with ReasonAnalysisFailed.
type Check struct {
	// Name appears in events and in the reason a release was aborted.
	Name string
	// Func judges the release.
	Func func(ctx context.Context, in CheckInput) error
	// Validate, when set, adds the errors of the check's own configuration
	// at path to v, so that a strategy rejects a bad check before any
	// write (analysis.Analysis.Check sets it).
	Validate func(v *Validator, path string)
}

// Moment is when a check runs in a release. Gates name the moments every
// strategy shares; a strategy's own checks (blue/green's PrePromotion,
// canary's analysis) run at moments of their own, with Moment empty or
// the nearest of these.
type Moment string

// The moments of a release at which Gates run, as Flagger users know them
// (confirm-rollout, confirm-traffic-increase, confirm-promotion,
// post-rollout, rollback).
const (
	// BeforeRelease: once a release has started, before its first step
	// writes anything but the record.
	BeforeRelease Moment = "BeforeRelease"
	// BeforeStep: before each step that moves traffic to the new revision
	// (each canary SetWeight step, blue/green's switch).
	BeforeStep Moment = "BeforeStep"
	// BeforePromotion: before the new revision becomes the stable one
	// (blue/green's promotion step, canary's promote step).
	BeforePromotion Moment = "BeforePromotion"
	// AfterPromotion: once the new revision serves all traffic.
	AfterPromotion Moment = "AfterPromotion"
	// OnRollback: once traffic went back after an abort.
	OnRollback Moment = "OnRollback"
)

// Gates are checks every strategy runs at the moments of a release, such
// as webhooks (strategy/webhook) or a person's approval. A gate that fails
// aborts the release (ErrAnalysisFailed), one that cannot decide pauses
// it for a decision, and an Abort cancels a gate that is running; an
// OnRollback gate only reports, since the release already ended. Gates
// run again when a driver resumes the step they guard after a crash, so
// they must tolerate being called twice.
type Gates struct {
	BeforeRelease   []Check
	BeforeStep      []Check
	BeforePromotion []Check
	AfterPromotion  []Check
	OnRollback      []Check
}

// At returns the gates of moment m.
func (g Gates) At(m Moment) []Check {
	switch m {
	case BeforeRelease:
		return g.BeforeRelease
	case BeforeStep:
		return g.BeforeStep
	case BeforePromotion:
		return g.BeforePromotion
	case AfterPromotion:
		return g.AfterPromotion
	case OnRollback:
		return g.OnRollback
	}
	return nil
}

// CheckInput is what a Check sees.
type CheckInput struct {
	Release Release
	// Moment is when the check runs: set for Gates, and for a strategy's
	// own checks where one of the moments fits.
	Moment Moment
	// Stable is the revision serving before the release.
	Stable string
	// Slot names the Deployment that runs the new revision, and Service the
	// Service that reaches it (the preview Service before promotion, the
	// active one after).
	Slot    string
	Service string
	Clients Clients
	// Clock is the driver's clock: checks that wait use it. On an
	// auto-advancing fake clock the check counts as busy while it runs,
	// and as waiting from the moment it asks Clock for a timer to wait on
	// (After, NewTimer, Tick, NewTicker, Sleep) until the timer fires.
	Clock clock.WithTickerAndDelayedExecution
	// Idle, when set, marks the check as waiting for something other than
	// Clock's timers (a channel, a watch) and returns what marks it busy
	// again: whatever ends the wait calls it before it does, and the check
	// once it wakes. A check that blocks on something else without it
	// holds an auto-advancing fake clock still meanwhile.
	Idle func() (busy func())
	// Emit reports an event, such as an EventMeasurement, to the release's
	// observer; it is safe to call from any goroutine. Measurements are
	// kept in the release record. Nil when the check runs outside a driver.
	Emit func(Event)
}

// CheckError is a failed Check. It matches ErrAnalysisFailed, unless the
// check could not decide and its error wraps ErrInconclusive.
type CheckError struct {
	Check string
	Err   error
}

func (e *CheckError) Error() string { return fmt.Sprintf("check %s failed: %v", e.Check, e.Err) }

// Unwrap returns the check's error.
func (e *CheckError) Unwrap() error { return e.Err }

// Is reports whether target is ErrAnalysisFailed and the check did decide.
func (e *CheckError) Is(target error) bool {
	return target == ErrAnalysisFailed && !errors.Is(e.Err, ErrInconclusive)
}

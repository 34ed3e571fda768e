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

// CheckInput is what a Check sees.
type CheckInput struct {
	Release Release
	// Stable is the revision serving before the release.
	Stable string
	// Slot names the Deployment that runs the new revision, and Service the
	// Service that reaches it (the preview Service before promotion, the
	// active one after).
	Slot    string
	Service string
	Clients Clients
	// Clock is the driver's clock: checks that wait use it.
	Clock clock.WithTickerAndDelayedExecution
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

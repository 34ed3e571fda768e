package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/switchyard-dev/switchyard/internal/retry"
	"github.com/switchyard-dev/switchyard/strategy"
)

// repeatLimit is how many times in a row the server may give the same
// persistent error (see persistent) before a call stops trying.
const repeatLimit = 5

// retry calls op until it succeeds, fails for good, or ctx ends, backing
// off on the run's clock between transient errors (strategy.Transient, or
// extra when given), with the job idle meanwhile. Other errors are
// returned at once, and so is a persistent error the server gave
// repeatLimit times in a row unchanged: trying again until the run's
// timeout would only hide it. When ctx ends first, the error is a
// *cutShortError, which keeps what the server said last. ref names the
// object in the events of the retries.
func (rn *run) retry(ctx context.Context, ref Ref, w waiter, extra func(error) bool, op func(context.Context) error) error {
	var a attempts
	err := retry.Retrier{Clock: rn.s.cfg.Clock, Max: rn.s.cfg.MaxRetryBackoff, Retryable: extra,
		OnRetry: func(err error, wait time.Duration) { rn.retrying(ref, err, wait) },
		Idle:    func() func() { w.idle(); return w.busy },
	}.Do(ctx, a.wrap(op))
	return a.outcome(ctx, err)
}

// call is retry for the run's own goroutine: through the driver once
// there is one, which counts as waiting while it backs off, and before as
// a participant of its own in an auto-advancing clock.
func (rn *run) call(ctx context.Context, ref Ref, op func(context.Context) error) error {
	if rn.d == nil {
		w, done := track(rn.s.cfg.Clock)
		defer done()
		return rn.retry(ctx, ref, w, nil, op)
	}
	var a attempts
	return a.outcome(ctx, rn.d.Retry(ctx, a.wrap(op)))
}

// attempts follows the errors of one call's attempts.
type attempts struct {
	last    error
	repeats int
}

// wrap returns op, made to fail for good once the server has given the
// same persistent error repeatLimit times in a row.
func (a *attempts) wrap(op func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		err := op(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		if persistent(err) && sameError(err, a.last) {
			a.repeats++
		} else {
			a.repeats = 1
		}
		a.last = err
		if persistent(err) && a.repeats >= repeatLimit {
			return backoff.Permanent(fmt.Errorf("%w (the same error %d times in a row)", err, a.repeats))
		}
		return err
	}
}

// outcome is the error of the call: err, or a *cutShortError when ctx
// ended first.
func (a *attempts) outcome(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return &cutShortError{cause: context.Cause(ctx), last: a.last}
	}
	return err
}

// retrying reports a retry from a job's goroutine.
func (rn *run) retrying(ref Ref, err error, wait time.Duration) {
	if rn.fromJobs == nil {
		return
	}
	rn.fromJobs(strategy.Event{Type: strategy.EventRetrying, Object: ref.String(), Err: err,
		Message: "retrying in " + wait.String()})
}

// persistent reports whether err, should it come back unchanged, is the
// server's answer to the request rather than to its load: an internal
// error (500), such as an admission webhook's failure or a value the
// server cannot decode. Throttling (429), unavailability (502, 503),
// timeouts and conflicts say "later", and network errors carry no answer:
// those are retried until the run's timeout.
func persistent(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	switch code := st.Status().Code; {
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsConflict(err):
		return false
	default:
		return code >= 500 && code != 502
	}
}

// sameError reports whether a and b are the same answer of the server:
// same code, reason and message.
func sameError(a, b error) bool {
	var sa, sb apierrors.APIStatus
	if a == nil || b == nil || !errors.As(a, &sa) || !errors.As(b, &sb) {
		return false
	}
	x, y := sa.Status(), sb.Status()
	return x.Code == y.Code && x.Reason == y.Reason && x.Message == y.Message
}

// cutShortError is a call whose retries ended with their context: the run's
// timeout, or its caller, gave up. It keeps the last error the server gave.
type cutShortError struct {
	cause error // context.Cause of the context that ended
	last  error // nil when no attempt failed
}

func (e *cutShortError) Error() string {
	if e.last == nil {
		return e.cause.Error()
	}
	return fmt.Sprintf("%v; the last error was: %v", e.cause, e.last)
}

func (e *cutShortError) Unwrap() []error {
	if e.last == nil {
		return []error{e.cause}
	}
	return []error{e.cause, e.last}
}

// lastError returns the last error the server gave to a call that err
// reports cut short, nil if none.
func lastError(err error) (last error, cut bool) {
	var cs *cutShortError
	if !errors.As(err, &cs) {
		return nil, false
	}
	return cs.last, true
}

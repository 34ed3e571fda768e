package strategy

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/cenkalti/backoff/v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
)

// Transient reports whether err is worth retrying: API 5xx, 429, server
// timeouts, conflicts, and network errors. Validation, forbidden, not-found
// and invalid errors are permanent, and so is anything wrapped in
// backoff.Permanent.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var perm *backoff.PermanentError
	if errors.As(err, &perm) || errors.Is(err, ErrInvalid) {
		return false
	}
	switch {
	case apierrors.IsConflict(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServerTimeout(err), apierrors.IsTimeout(err),
		apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err),
		apierrors.IsUnexpectedServerError(err):
		return true
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err), apierrors.IsInvalid(err),
		apierrors.IsBadRequest(err), apierrors.IsNotFound(err), apierrors.IsAlreadyExists(err),
		apierrors.IsMethodNotSupported(err), apierrors.IsNotAcceptable(err),
		apierrors.IsRequestEntityTooLargeError(err):
		return false
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Code >= 500 {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// retrier runs API calls again on transient errors with exponential backoff
// and jitter on the injected clock, until the context ends.
type retrier struct {
	clock   clock.WithTickerAndDelayedExecution
	max     time.Duration
	onRetry func(err error, wait time.Duration)
	idle    func() func() // marks the caller idle while it waits; may be nil
}

// do calls op until it succeeds, fails permanently or ctx ends.
func (r retrier) do(ctx context.Context, op func(ctx context.Context) error) error {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(50*time.Millisecond),
		backoff.WithMaxInterval(r.max),
		backoff.WithMaxElapsedTime(0),
		backoff.WithClockProvider(r.clock),
	)
	conflicts := 0
	for {
		err := op(ctx)
		if err == nil || !Transient(err) {
			var perm *backoff.PermanentError
			if errors.As(err, &perm) {
				return perm.Err
			}
			return err
		}
		// A first conflict means another writer was quicker: read and try
		// again at once. Repeated conflicts back off like other errors.
		if apierrors.IsConflict(err) {
			if conflicts++; conflicts == 1 {
				continue
			}
		} else {
			conflicts = 0
		}
		wait := b.NextBackOff()
		if r.onRetry != nil {
			r.onRetry(err, wait)
		}
		resume := func() {}
		if r.idle != nil {
			resume = r.idle()
		}
		// The timer marks the caller busy before waking it, so that an
		// auto-advancing fake clock cannot move on in between.
		fired := make(chan struct{})
		t := r.clock.AfterFunc(wait, func() { resume(); close(fired) })
		select {
		case <-ctx.Done():
			t.Stop()
			resume()
			return errors.Join(ctx.Err(), err)
		case <-fired:
		}
	}
}

// Retry calls op until it succeeds, returns a permanent error or ctx ends,
// waiting on clk with exponential backoff and jitter between transient
// failures.
func Retry(ctx context.Context, clk clock.WithTickerAndDelayedExecution, op func(ctx context.Context) error) error {
	return retrier{clock: clk, max: DefaultMaxRetryBackoff}.do(ctx, op)
}

// Package retry runs Kubernetes API calls again on transient errors, on an
// injected clock.
package retry

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
)

// ErrInvalid is matched by every validation error; it is never retried.
// Package strategy exports the same value.
var ErrInvalid = errors.New("invalid input")

// DefaultMax is the default cap of the wait between attempts.
const DefaultMax = 30 * time.Second

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

// Retrier runs API calls again on transient errors with exponential
// backoff and jitter on its clock, until the context ends.
type Retrier struct {
	Clock clock.WithTickerAndDelayedExecution
	// Max caps the wait between attempts; zero is DefaultMax.
	Max time.Duration
	// Retryable also retries errors it accepts, besides Transient ones.
	Retryable func(error) bool
	// OnRetry, when set, is told of each retry before the wait.
	OnRetry func(err error, wait time.Duration)
	// Idle, when set, marks the caller idle for an auto-advancing clock
	// while it waits and returns what marks it busy again (see participant.Track).
	Idle func() (busy func())
}

// Do calls op until it succeeds, fails permanently (an error that is not
// retried, or a backoff.PermanentError, unwrapped) or ctx ends.
func (r Retrier) Do(ctx context.Context, op func(ctx context.Context) error) error {
	limit := r.Max
	if limit == 0 {
		limit = DefaultMax
	}
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(50*time.Millisecond),
		backoff.WithMaxInterval(limit),
		backoff.WithMaxElapsedTime(0),
		backoff.WithClockProvider(r.Clock),
	)
	conflicts := 0
	for {
		err := op(ctx)
		var perm *backoff.PermanentError
		if errors.As(err, &perm) {
			return perm.Err
		}
		if err == nil || !Transient(err) && (r.Retryable == nil || !r.Retryable(err)) {
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
		if r.OnRetry != nil {
			r.OnRetry(err, wait)
		}
		// The timer, made before the caller goes idle, marks it busy before
		// waking it, so that an auto-advancing fake clock cannot move on in
		// between.
		var mu sync.Mutex
		var resume func()
		fired := make(chan struct{})
		t := r.Clock.AfterFunc(wait, func() {
			mu.Lock()
			if resume != nil {
				resume()
			}
			mu.Unlock()
			close(fired)
		})
		if r.Idle != nil {
			mu.Lock()
			resume = r.Idle()
			mu.Unlock()
		}
		select {
		case <-ctx.Done():
			if !t.Stop() {
				<-fired
			}
			if resume != nil {
				resume()
			}
			return errors.Join(ctx.Err(), err)
		case <-fired:
		}
	}
}

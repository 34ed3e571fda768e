package strategy

import (
	"context"

	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/internal/participant"
	"github.com/switchyard-dev/switchyard/internal/retry"
)

// Transient reports whether err is worth retrying: API 5xx, 429, server
// timeouts, conflicts, and network errors. Validation, forbidden, not-found
// and invalid errors are permanent, and so is anything wrapped in
// backoff.Permanent.
func Transient(err error) bool { return retry.Transient(err) }

// Retry calls op until it succeeds, returns a permanent error or ctx ends,
// waiting on clk with exponential backoff and jitter between transient
// failures.
func Retry(ctx context.Context, clk clock.WithTickerAndDelayedExecution, op func(ctx context.Context) error) error {
	return retry.Retrier{Clock: clk}.Do(ctx, op)
}

// Retry calls op with exponential backoff and jitter, on the options' clock, counting the
// caller as a participant of an auto-advancing fake clock while it backs
// off, so that a retry before any driver runs (a strategy's checks of its
// input, a Control call) cannot stall a test.
func (c Config) Retry(ctx context.Context, op func(ctx context.Context) error) error {
	idle, busy, done := participant.Track(c.Clock)
	defer done()
	return retry.Retrier{Clock: c.Clock, Max: c.MaxRetryBackoff, Idle: func() func() { idle(); return busy }}.Do(ctx, op)
}

// Package strategy is what every switchyard strategy shares, and what a
// program that ships releases uses.
//
// A Strategy (bluegreen, canary, strategy/rolling, bootstrap) ships a
// Release (an app, a revision and its workload) with Run, which returns
// when the release reaches a terminal phase:
//
//   - a *Result with a nil error: Succeeded, the revision serves;
//   - a *Result and an error matching ErrAborted, ErrAnalysisFailed,
//     ErrProgressDeadline or ErrSuperseded (Result.Err): the release ended
//     and Result.Stable says what serves; traffic is already back on it.
//     Nothing to clean up; Control.Retry, or a new Run, tries again;
//   - no Result and an error: the release could not go on (bad input is a
//     *ValidationError before anything is written; an edited or foreign
//     record is ErrCorruptRecord or ErrForeignRecord with nothing written;
//     a forbidden call or watch, a lost lease or the caller's context
//     ending). Its state is in the cluster: a later Run continues it.
//
// Run is idempotent: the state of each app's release lives in the cluster,
// in one release record (a ConfigMap), so any process can continue,
// inspect or steer it. Only one driver acts on a release at a time: it
// holds a lease in the record, renewed on its own schedule, and stops
// acting before the lease can lapse. A driver restarted with the same
// identity (WithIdentity; by default the host name, which in a Pod is the
// Pod's name) takes its releases over at once; another waits for the lease.
//
// Control steers a release from any process: Promote, PromoteFull, Pause,
// Resume, Abort, Retry and Undo are written to the record and heard by the
// driver at every moment, during checks and delays included; Status reads
// it and Await waits for a status. A request that cannot be honoured (an
// Abort once the previous revision's pods are being removed) is refused
// with an error matching ErrNotApplicable, never accepted and dropped.
//
// A program that runs many releases, or runs for months, makes one
// Watches (NewWatches), passes it to every strategy with WithWatches and
// calls Close when it stops: the Runs then share watch caches (client-go
// Reflectors and Indexers) and a corev1 Event sender, and a Run in a
// namespace already watched makes no list and opens no watch. Without it
// each Run watches on its own and ends its goroutines before it returns.
//
// Options (WithClock, WithIdentity, WithObserver, WithLogger, ...) are
// shared by every strategy. Events reach an observer callback, corev1
// Events, OpenTelemetry and slog. Checks (a Go func, an analysis, a
// webhook from strategy/webhook) gate a release at fixed moments. Sequence
// and Waves compose strategies.
//
// Writing a strategy of your own? Package strategy/flow has the driver and
// the release state machine every built-in strategy runs on, and
// strategy/record the release record's format.
package strategy

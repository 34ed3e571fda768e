// Package flow is for strategy authors: the driver and the release state
// machine that blue/green, canary and rolling releases run on. Programs
// that ship releases need only package strategy.
//
// A strategy's Run calls Begin (or BeginReplacing), which validates the
// options, takes the release's lease in its record (package
// strategy/record) and returns a Driver. The Driver renews the lease on
// its own schedule and fences every write with it (Fence, Guard), saves
// the record (Save), waits on watches and the clock (Wait, Hold), retries
// transient API errors (Retry), reports events (Emit) and ends the release
// (Finish). The events, and the phase changes and requests each write
// makes, become the release's timeline (record.Record.Timeline), kept with
// the next write of the record, as measurements are: it costs no write of
// its own.
//
// New builds a Flow over the Driver: the strategy's named steps (Step)
// and its hooks (Hooks: how to roll back, retire the old revision, which
// watches to wait on). The Flow runs the steps from the one recorded, and
// decides in one table what every control request (Promote, Pause, Abort,
// Undo, ...) does at every wait (Await, Decide), how checks run (Check,
// StartBackground) and how an abort is recorded before traffic moves
// (Abort). A driver that resumes after a crash continues at the step the
// record names, and every step must be safe to run again.
//
// StepCheck and StateCheck are checks of a record read from the cluster:
// anyone who can edit ConfigMaps can edit it, so a strategy refuses steps
// and states it never wrote before acting on them.
package flow

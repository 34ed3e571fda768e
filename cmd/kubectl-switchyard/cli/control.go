package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy"
)

// DefaultTimeout bounds --wait when --timeout is not given.
const DefaultTimeout = 5 * time.Minute

// action is one control command.
type action struct {
	name, short, long, example string
	kind                       strategy.Action
}

// actions are the control commands, in the order help lists them.
var actions = []action{
	{name: "promote", kind: strategy.ActionPromote,
		short:   "Move a release past its current step (a pause, a manual promotion); --full skips every remaining step",
		long:    "Promote moves the release past its current step: a pause, a manual promotion, a step's wait.\nWith --full it skips every remaining step and promotes the new revision (PromoteFull).",
		example: "  kubectl switchyard promote web -n shop --wait\n  kubectl switchyard promote web -n shop --full"},
	{name: "pause", kind: strategy.ActionPause,
		short: "Hold a release at its current step until resume",
		long:  "Pause holds the release at its current step, timed pauses included, until resume."},
	{name: "resume", kind: strategy.ActionResume,
		short: "Let a paused release go on",
		long:  "Resume lifts a Pause. A release waiting for a decision (a manual promotion) needs promote instead."},
	{name: "abort", kind: strategy.ActionAbort,
		short: "Send all traffic back to the stable revision and end the release Aborted",
		long:  "Abort sends all traffic back to the stable revision at once and ends the release Aborted. It is\nrefused once the old revision's pods are being removed."},
	{name: "retry", kind: strategy.ActionRetry,
		short: "Release an aborted or failed revision again",
		long:  "Retry starts an aborted or failed release of the same revision again, at the next Run of the app."},
	{name: "undo", kind: strategy.ActionUndo,
		short:   "Go back to an earlier revision of the history (default: the last one that succeeded)",
		long:    "Undo goes back to a revision of the release history (see history): --to REV, or by default the\nnewest earlier revision that succeeded. An ended release is undone at the next Run of the app.",
		example: "  kubectl switchyard undo web -n shop --to v1 --wait"},
}

// requestFlags are the flags of a control command.
type requestFlags struct {
	wait    bool
	timeout time.Duration
	out     string
	full    bool   // promote
	to      string // undo
}

func (e *env) controlCmd(a action) *cobra.Command {
	var fl requestFlags
	example := a.example
	if example == "" {
		example = fmt.Sprintf("  kubectl switchyard %s web -n shop --wait", a.name)
	}
	cmd := &cobra.Command{
		Use:   a.name + " APP",
		Short: a.short,
		Long: a.long + "\n\nIt prints where the release is and the request it sends, then that the request was recorded in\n" +
			"the release record; the driver running the release carries it out. With --wait it waits, on a\n" +
			"watch of the record, until the driver took the request (or the release ended).\n" +
			"Needs get and update on configmaps, and list and watch with --wait.\n" + exitCodesHelp,
		Example: example,
		Args:    oneApp,
		RunE:    func(cmd *cobra.Command, args []string) error { return e.request(cmd.Context(), a.kind, args, fl) },
	}
	f := cmd.Flags()
	f.BoolVar(&fl.wait, "wait", false, "wait until the driver took the request, or the release ended")
	f.DurationVar(&fl.timeout, "timeout", DefaultTimeout, "how long --wait waits")
	addOutputFlag(cmd, &fl.out)
	switch a.kind {
	case strategy.ActionPromote:
		f.BoolVar(&fl.full, "full", false, "skip every remaining step and promote the new revision (PromoteFull)")
	case strategy.ActionUndo:
		f.StringVar(&fl.to, "to", "", "the revision to go back to (default: the newest earlier one that succeeded)")
	}
	return cmd
}

// request sends one control request and reports on it.
func (e *env) request(ctx context.Context, kind strategy.Action, args []string, fl requestFlags) error {
	f, err := parseFormat(fl.out)
	if err != nil {
		return err
	}
	if fl.timeout <= 0 {
		return usageErrorf("--timeout %s: give a positive duration, such as 10m", fl.timeout)
	}
	c, app, err := e.control(args)
	if err != nil {
		return err
	}
	st, err := c.Status(ctx, app)
	if err != nil {
		return explain(err, app, "get")
	}
	if kind == strategy.ActionPromote && fl.full {
		kind = strategy.ActionPromoteFull
	}
	rev, err := undoTarget(kind, st, fl.to)
	if err != nil {
		return err
	}
	notes := e.streams.Out
	if f != "" {
		notes = e.streams.Err
	}
	fmt.Fprintf(notes, "%s in %s: %s.\n", app.Name, app.Namespace, where(st))
	fmt.Fprintf(notes, "Sending %s: %s.\n", kind, intent(kind, st, rev))
	before := pendingSeqs(st)
	if err := send(ctx, c, kind, app, rev); err != nil {
		return refused(explain(err, app, "get and update"), kind, st)
	}
	fmt.Fprintf(notes, "%s recorded in the release record %s; %s\n", kind, strategy.RecordName(app.Name), driverNote(st, kind, e.set.clock.Now()))
	if !fl.wait {
		if f == "" {
			return nil
		}
		if st, err = c.Status(ctx, app); err != nil {
			return explain(err, app, "get")
		}
		return f.print(e.streams.Out, releaseStatus(st))
	}
	final, err := e.awaitTaken(ctx, c, app, kind, before, fl.timeout, notes)
	if err != nil {
		return err
	}
	if f != "" {
		if err := f.print(e.streams.Out, releaseStatus(final)); err != nil {
			return err
		}
	}
	return endedBadly(kind, final)
}

func send(ctx context.Context, c *strategy.Control, kind strategy.Action, app types.NamespacedName, rev string) error {
	switch kind {
	case strategy.ActionPromote:
		return c.Promote(ctx, app)
	case strategy.ActionPromoteFull:
		return c.PromoteFull(ctx, app)
	case strategy.ActionPause:
		return c.Pause(ctx, app)
	case strategy.ActionResume:
		return c.Resume(ctx, app)
	case strategy.ActionAbort:
		return c.Abort(ctx, app)
	case strategy.ActionRetry:
		return c.Retry(ctx, app)
	case strategy.ActionUndo:
		return c.Undo(ctx, app, rev)
	}
	return fmt.Errorf("unknown request %s", kind)
}

// undoTarget is the revision an Undo goes back to: to, or the newest
// earlier revision that succeeded.
func undoTarget(kind strategy.Action, st *strategy.Status, to string) (string, error) {
	if kind != strategy.ActionUndo || to != "" {
		return to, nil
	}
	if prev := previousRevision(st); prev != "" {
		return prev, nil
	}
	return "", usageErrorf("no earlier revision of %s succeeded: name one with --to (kubectl switchyard history %s -n %s lists them)",
		st.App.Name, st.App.Name, st.App.Namespace)
}

// where says where a release is: "v2 is Paused at step 3 (promotion); v1 serves".
func where(st *strategy.Status) string {
	s := fmt.Sprintf("%s is %s", orDash(st.Revision), orDash(string(st.Phase)))
	if st.StepName != "" {
		s += fmt.Sprintf(" at step %d (%s)", st.Step, st.StepName)
	}
	if st.Stable != "" {
		s += "; " + st.Stable + " serves"
	}
	return s
}

// intent says what a request asks of the release of st.
func intent(kind strategy.Action, st *strategy.Status, rev string) string {
	switch kind {
	case strategy.ActionPromote:
		return "move the release past its current step"
	case strategy.ActionPromoteFull:
		return "skip every remaining step and promote " + st.Revision
	case strategy.ActionPause:
		return "hold the release at its current step until resume"
	case strategy.ActionResume:
		return "let the paused release go on"
	case strategy.ActionAbort:
		return abortText(st)
	case strategy.ActionRetry:
		return "release " + st.Revision + " again from its first step"
	case strategy.ActionUndo:
		return "go back to revision " + rev
	}
	return string(kind)
}

// driverNote says who carries a recorded request out, and when.
func driverNote(st *strategy.Status, kind strategy.Action, now time.Time) string {
	switch {
	case st.Phase.Terminal() && (kind == strategy.ActionRetry || kind == strategy.ActionUndo):
		return "the release has ended, so it takes effect at the next Run of the app (by whatever runs its releases)."
	case st.Lease.Live(now):
		return fmt.Sprintf("the driver %s (lease renewed %s) carries it out as soon as it sees it.", st.Lease.Holder, ago(now, st.Lease.Renewed))
	}
	return "no driver runs the release now (no live lease): the request waits in the record for the next Run of the app."
}

// refused explains a request the release refused, with ExitRefused.
func refused(err error, kind strategy.Action, st *strategy.Status) error {
	var pe *strategy.PhaseError
	switch {
	case errors.As(err, &pe) && pe.Why != "":
		return withCode(ExitRefused, "%s refused in phase %s: %s", kind, pe.Phase, pe.Why)
	case errors.As(err, &pe):
		now := *st
		now.Phase = pe.Phase
		return withCode(ExitRefused, "%s refused: it does not apply to a release in phase %s; %s", kind, pe.Phase, refusalAdvice(kind, &now))
	case errors.Is(err, strategy.ErrNotApplicable):
		return withCode(ExitRefused, "%s refused: %v; %s", kind, err, refusalAdvice(kind, st))
	case errors.Is(err, strategy.ErrUnknownRevision):
		return withCode(ExitRefused, "%v: kubectl switchyard history %s -n %s lists the revisions undo can go back to",
			err, st.App.Name, st.App.Namespace)
	}
	return err
}

// pendingSeqs are the sequence numbers of st's pending requests.
func pendingSeqs(st *strategy.Status) map[int64]bool {
	seqs := map[int64]bool{}
	for _, q := range st.Pending {
		seqs[q.Seq] = true
	}
	return seqs
}

// awaitTaken waits, on a watch of the record, until the driver took the
// request of kind this command sent (one by this identity, pending since
// before), or until the release ended without it.
func (e *env) awaitTaken(ctx context.Context, c *strategy.Control, app types.NamespacedName, kind strategy.Action,
	before map[int64]bool, timeout time.Duration, notes io.Writer) (*strategy.Status, error) {
	fmt.Fprintf(notes, "Waiting up to %s for the driver to take it...\n", timeout)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	laterRun := kind == strategy.ActionRetry || kind == strategy.ActionUndo
	mine := func(st *strategy.Status) bool {
		return slices.ContainsFunc(st.Pending, func(q strategy.Request) bool {
			return q.Action == kind && q.By == e.set.identity && !before[q.Seq]
		})
	}
	final, err := c.Await(wctx, app, func(st *strategy.Status) bool {
		return !mine(st) || st.Phase.Terminal() && !laterRun
	})
	switch {
	case err == nil:
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		st, serr := c.Status(ctx, app)
		if serr != nil {
			return nil, fmt.Errorf("timed out after %s waiting for the driver to take %s", timeout, kind)
		}
		return nil, timedOut(kind, st, timeout, e.set.clock.Now())
	default:
		return nil, explain(err, app, "list and watch")
	}
	if mine(final) {
		fmt.Fprintf(notes, "The release ended before the driver took %s: %s in %s: %s.\n", kind, app.Name, app.Namespace, where(final))
	} else {
		fmt.Fprintf(notes, "Taken. Now %s in %s: %s.\n", app.Name, app.Namespace, where(final))
	}
	return final, nil
}

// timedOut says why a request may not have been taken within timeout.
func timedOut(kind strategy.Action, st *strategy.Status, timeout time.Duration, now time.Time) error {
	if st.Phase.Terminal() {
		return fmt.Errorf("timed out after %s: %s stays recorded and takes effect at the next Run of %s, which has not started",
			timeout, kind, st.App.Name)
	}
	return fmt.Errorf("timed out after %s waiting for the driver to take %s; it stays recorded. Lease: %s",
		timeout, kind, leaseText(st, now))
}

// endedBadly returns an ExitReleaseFailed error when the release ended
// Aborted or Failed other than as the request asked.
func endedBadly(kind strategy.Action, st *strategy.Status) error {
	if st.Phase != strategy.PhaseAborted && st.Phase != strategy.PhaseFailed {
		return nil
	}
	if kind == strategy.ActionAbort && st.Reason == strategy.ReasonRequested ||
		kind == strategy.ActionUndo && st.Reason == strategy.ReasonSuperseded {
		return nil
	}
	return withCode(ExitReleaseFailed, "the release of %s ended %s (%s): %s", st.Revision, st.Phase, orDash(string(st.Reason)), st.Message)
}

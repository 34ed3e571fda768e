package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/switchyard-dev/switchyard/strategy"
)

// hint is a command that applies to a release now, and why one would run
// it.
type hint struct {
	args, why string
}

// hints are the commands that apply to st in its phase.
func hints(st *strategy.Status) []hint {
	back := abortText(st)
	switch st.Phase {
	case strategy.PhasePending, strategy.PhaseProgressing:
		return []hint{{"pause", "hold it at this step"}, {"abort", back},
			{"promote --full", "skip the remaining steps and promote " + st.Revision}}
	case strategy.PhasePaused:
		h := []hint{{"promote", "go on past this step"}, {"abort", back}}
		if st.Paused {
			h = append(h, hint{"resume", "lift the Pause request"})
		}
		return h
	case strategy.PhasePromoting:
		return []hint{{"abort", back + " (refused once the old revision's pods are being removed)"}}
	case strategy.PhaseAborted, strategy.PhaseFailed:
		h := []hint{{"retry", "release " + st.Revision + " again (at the next Run of the app)"}}
		if prev := previousRevision(st); prev != "" {
			h = append(h, hint{"undo --to " + prev, "ship " + prev + " again"})
		}
		return h
	case strategy.PhaseSucceeded:
		if prev := previousRevision(st); prev != "" {
			return []hint{{"undo --to " + prev, "go back to " + prev}}
		}
	}
	return nil
}

// backTo names the revision an Abort sends traffic back to: the stable
// one, or once the new revision serves, the one before it.
func backTo(st *strategy.Status) string {
	if st.Stable != "" && st.Stable != st.Revision {
		return st.Stable
	}
	return previousRevision(st)
}

// abortText says what an Abort of st does.
func abortText(st *strategy.Status) string {
	if to := backTo(st); to != "" {
		return "send all traffic back to " + to + " at once and end the release Aborted"
	}
	return "end the release Aborted (there is no earlier revision to go back to)"
}

// writeHints writes the commands that apply to st now.
func writeHints(w io.Writer, st *strategy.Status) {
	hs := hints(st)
	if len(hs) == 0 {
		return
	}
	fmt.Fprintln(w, "Next:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, h := range hs {
		fmt.Fprintf(tw, "  %s\t# %s\n", commandFor(st, h.args), h.why)
	}
	_ = tw.Flush()
}

func commandFor(st *strategy.Status, args string) string {
	return fmt.Sprintf("kubectl switchyard %s %s -n %s", args, st.App.Name, st.App.Namespace)
}

// previousRevision is the newest revision of the history, other than the
// one released now, that succeeded: where undo goes back to by default.
func previousRevision(st *strategy.Status) string {
	for i := len(st.History) - 1; i >= 0; i-- {
		h := st.History[i]
		if h.Revision != st.Revision && h.Phase == strategy.PhaseSucceeded {
			return h.Revision
		}
	}
	return ""
}

// refusalAdvice says what to do about a request the release refused in
// the phase of st.
func refusalAdvice(a strategy.Action, st *strategy.Status) string {
	switch {
	case a == strategy.ActionResume && st.Phase == strategy.PhasePaused:
		return "the release waits for a decision, not for Resume: promote it to go on, or abort it."
	case a == strategy.ActionPause && st.Phase == strategy.PhasePaused:
		return "the release is paused already: promote it to go on, or abort it."
	case a == strategy.ActionRetry && !st.Phase.Terminal():
		return "only an aborted or failed release can be retried; this one is still going."
	case st.Phase == strategy.PhaseSucceeded:
		return "the release has ended and " + st.Revision + " serves; undo --to REV goes back to an earlier revision."
	case st.Phase.Terminal():
		return "the release has ended " + string(st.Phase) + "; retry releases " + st.Revision + " again."
	}
	return "see what applies now with kubectl switchyard status " + st.App.Name + " -n " + st.App.Namespace + "."
}

package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
)

// frame is what the live view of watch shows of a release at one moment.
type frame struct {
	st  *strategy.Status
	now time.Time
	// seen are the step names the watch saw, by index.
	seen map[int]string
	// width cuts lines to the terminal's width; 0: no limit.
	width int
}

// render draws the frame as lines of text, each ending in a newline.
func (f frame) render() string {
	st := f.st
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("%s in %s · %s · %s", st.App.Name, st.App.Namespace, orDash(st.Strategy), revisionText(st))
	line("Phase:    %s", phaseText(st))
	if w, ok := weightOf(st); ok {
		line("Weight:   %s %d%%", weightBar(w, 20), w)
	} else {
		line("Weight:   - (the record does not say)")
	}
	f.renderSteps(line)
	if !st.PauseUntil.IsZero() {
		line("Pause ends %s", ago(f.now, st.PauseUntil))
	}
	line("Lease:    %s", leaseText(st, f.now))
	if len(st.Pending) == 0 {
		line("Pending:  none")
	}
	for i, q := range st.Pending {
		label := "Pending: "
		if i > 0 {
			label = "         "
		}
		line("%s %s", label, requestText(q, f.now))
	}
	writeMeasurements(&b, st.Measurements, f.now, 5)
	if st.Phase.Terminal() {
		line("Updated %s. The release has ended.", ago(f.now, st.Updated))
	} else {
		line("Updated %s. Ctrl-C stops watching; the release goes on.", ago(f.now, st.Updated))
	}
	return f.cut(b.String())
}

func (f frame) renderSteps(line func(string, ...any)) {
	steps, complete := stepLines(f.st, f.seen)
	if len(steps) == 0 {
		return
	}
	line("Steps:")
	for _, s := range steps {
		mark := map[stepState]string{stepAhead: " ", stepDone: "✓", stepCurrent: "▶", stepStopped: "✗"}[s.state]
		note := ""
		switch s.state {
		case stepCurrent:
			note = "  ← current"
		case stepStopped:
			note = "  ← " + strings.ToLower(string(f.st.Phase)) + " here"
		}
		line("  %s %d %s%s", mark, s.index, s.name, note)
	}
	if !complete && !f.st.Phase.Terminal() {
		line("    … later steps are not in the record")
	}
}

// cut shortens each line of s to the frame's width, so that the terminal
// does not wrap them and the next redraw knows how many lines to clear.
func (f frame) cut(s string) string {
	if f.width <= 0 {
		return s
	}
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		r := []rune(strings.TrimSuffix(l, "\n"))
		if len(r) >= f.width {
			lines[i] = string(r[:f.width-1]) + "\n"
		}
	}
	return strings.Join(lines, "")
}

// weightBar draws percent as a bar of n cells.
func weightBar(percent int32, n int) string {
	full := int(min(max(percent, 0), 100)) * n / 100
	return "[" + strings.Repeat("█", full) + strings.Repeat("░", n-full) + "]"
}

// summary is a release's state in one line, as watch prints it at each
// change when its output is not a terminal. It leaves out times, so that
// a lease renewal alone prints nothing.
func summary(st *strategy.Status) string {
	parts := []string{st.App.Name, orDash(st.Revision), orDash(string(st.Phase))}
	if st.Reason != "" {
		parts = append(parts, "("+string(st.Reason)+")")
	}
	if st.StepName != "" {
		parts = append(parts, fmt.Sprintf("step %d %s", st.Step, st.StepName))
	}
	if w, ok := weightOf(st); ok {
		parts = append(parts, fmt.Sprintf("weight %d%%", w))
	}
	if st.Paused {
		parts = append(parts, "paused")
	}
	driver := st.Lease.Holder
	if driver == "" {
		driver = "none"
	}
	parts = append(parts, "driver "+driver)
	for _, q := range st.Pending {
		parts = append(parts, "pending "+string(q.Action))
	}
	if n := len(st.Measurements); n > 0 {
		m := st.Measurements[n-1]
		parts = append(parts, fmt.Sprintf("measurements %d, latest %s=%s %s", n, measurementName(m), orDash(m.Value), m.Phase))
	}
	s := strings.Join(parts, " ")
	if st.Message != "" {
		s += ": " + st.Message
	}
	return s
}

package timeline

import (
	"bytes"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Text lists the timeline of st, one entry a line after a line about the
// release: the clock time, the time since the release started, the kind
// and what happened.
func Text(w io.Writer, st *strategy.Status, opts ...Option) error {
	if st == nil {
		return fmt.Errorf("listing a timeline: no status")
	}
	cfg := newConfig(opts)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s in %s: %s %s, %s", st.App.Name, orDash(st.App.Namespace), orDash(st.Strategy), orDash(st.Revision),
		orDash(string(st.Phase)))
	if st.Reason != "" {
		fmt.Fprintf(&b, " (%s)", st.Reason)
	}
	if st.Stable != "" {
		fmt.Fprintf(&b, ", serving %s", st.Stable)
	}
	if !st.Started.IsZero() {
		fmt.Fprintf(&b, ", started %s", st.Started.In(cfg.loc).Format("2006-01-02 15:04:05.000 MST"))
	}
	b.WriteString("\n")
	if len(st.Timeline) == 0 {
		b.WriteString("No timeline recorded.\n")
		_, err := w.Write(b.Bytes())
		return err
	}
	start, _ := timeRange(st)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSINCE START\tKIND\tWHAT")
	for _, e := range st.Timeline {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Time.In(cfg.loc).Format("15:04:05.000"), offset(e.Time.Sub(start)), e.Kind,
			oneLine(describe(e)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// oneLine replaces line breaks and tabs, which a record may hold, with
// spaces.
func oneLine(s string) string {
	out := []rune(s)
	for i, r := range out {
		if r == '\n' || r == '\r' || r == '\t' {
			out[i] = ' '
		}
	}
	return string(out)
}

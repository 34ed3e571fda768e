package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy"
)

func (e *env) listCmd() *cobra.Command {
	var all bool
	var out string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the releases of a namespace, or of all namespaces with -A",
		Long: "List the releases recorded in a namespace: app, strategy, revision, phase, step, traffic weight\n" +
			"(\"-\" where the record does not say) and the age of the release.\n" +
			"Needs list on configmaps.\n" + exitCodesHelp,
		Example: "  kubectl switchyard list -n shop\n  kubectl switchyard list -A -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFormat(out)
			if err != nil {
				return err
			}
			return e.list(cmd, all, f)
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the releases of every namespace")
	addOutputFlag(cmd, &out)
	return cmd
}

func (e *env) list(cmd *cobra.Command, all bool, f format) error {
	kube, ns, err := e.connect()
	if err != nil {
		return err
	}
	if all {
		ns = ""
	}
	list, err := e.newControl(kube).List(cmd.Context(), ns)
	if list == nil && err != nil {
		return explainList(err, ns)
	}
	if f != "" {
		items := ReleaseList{Items: []ReleaseStatus{}}
		for _, st := range list {
			items.Items = append(items.Items, releaseStatus(st))
		}
		if perr := f.print(e.streams.Out, items); perr != nil {
			return perr
		}
	} else {
		e.printList(list, all, ns)
	}
	if err != nil {
		return fmt.Errorf("some release records could not be read and are left out: %w", err)
	}
	return nil
}

func (e *env) printList(list []*strategy.Status, all bool, ns string) {
	if len(list) == 0 {
		where := "in namespace " + ns
		if all {
			where = "in any namespace"
		}
		fmt.Fprintf(e.streams.Err, "No releases %s.\n", where)
		return
	}
	now := e.set.clock.Now()
	tw := tabwriter.NewWriter(e.streams.Out, 0, 4, 2, ' ', 0)
	header := "APP\tSTRATEGY\tREVISION\tPHASE\tSTEP\tWEIGHT\tAGE"
	if all {
		header = "NAMESPACE\t" + header
	}
	fmt.Fprintln(tw, header)
	for _, st := range list {
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", st.App.Name, orDash(st.Strategy), orDash(st.Revision),
			orDash(string(st.Phase)), orDash(st.StepName), weightText(st), age(now, st.Started))
		if all {
			row = st.App.Namespace + "\t" + row
		}
		fmt.Fprintln(tw, row)
	}
	_ = tw.Flush()
}

// status reads the release status of the app args name.
func (e *env) status(cmd *cobra.Command, args []string) (*strategy.Status, types.NamespacedName, error) {
	c, app, err := e.control(args)
	if err != nil {
		return nil, app, err
	}
	st, err := c.Status(cmd.Context(), app)
	if err != nil {
		return nil, app, explain(err, app, "get")
	}
	return st, app, nil
}

func (e *env) statusCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "status APP",
		Short: "Show where a release is and what can be done with it",
		Long: "Show an app's release: revision, phase, step, lease holder, pending requests, the latest\n" +
			"measurements, the history, and the commands that apply now.\n" +
			"Needs get on configmaps.\n" + exitCodesHelp,
		Example: "  kubectl switchyard status web -n shop\n  kubectl switchyard status web -n shop -o json | jq -r .phase",
		Args:    oneApp,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFormat(out)
			if err != nil {
				return err
			}
			st, _, err := e.status(cmd, args)
			if err != nil {
				return err
			}
			if f != "" {
				return f.print(e.streams.Out, releaseStatus(st))
			}
			describe(e.streams.Out, st, e.set.clock.Now())
			return nil
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}

// describe writes what status shows of st.
func describe(w io.Writer, st *strategy.Status, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	line("Release", fmt.Sprintf("%s in %s", st.App.Name, st.App.Namespace))
	line("Strategy", orDash(st.Strategy))
	line("Revision", revisionText(st))
	line("Phase", phaseText(st))
	line("Step", stepOf(st))
	line("Weight", weightText(st))
	line("Started", timeText(now, st.Started))
	line("Updated", timeText(now, st.Updated))
	if !st.PauseUntil.IsZero() {
		line("Pause ends", timeText(now, st.PauseUntil))
	}
	line("Lease", leaseText(st, now))
	pending := "none"
	if len(st.Pending) > 0 {
		pending = requestText(st.Pending[0], now)
	}
	line("Pending", pending)
	for _, q := range st.Pending[min(1, len(st.Pending)):] {
		line("", requestText(q, now))
	}
	_ = tw.Flush()
	writeMeasurements(w, st.Measurements, now, 5)
	if len(st.History) > 0 {
		var revs []string
		for _, h := range st.History {
			revs = append(revs, h.Revision+" "+string(h.Phase))
		}
		fmt.Fprintf(w, "History: %s (kubectl switchyard history %s)\n", strings.Join(revs, ", "), st.App.Name)
	}
	writeHints(w, st)
}

func revisionText(st *strategy.Status) string {
	if st.Stable == "" || st.Stable == st.Revision {
		return orDash(st.Revision) + " (serving)"
	}
	return fmt.Sprintf("%s (stable %s)", orDash(st.Revision), st.Stable)
}

func phaseText(st *strategy.Status) string {
	s := orDash(string(st.Phase))
	if st.Reason != "" {
		s += " (" + string(st.Reason) + ")"
	}
	if st.Paused {
		s += ", held by a Pause request"
	}
	if st.Message != "" {
		s += ": " + st.Message
	}
	return s
}

func timeText(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s (%s)", t.UTC().Format(time.RFC3339), ago(now, t))
}

// leaseText says which driver holds the release, and whether it still
// does by the lease's times.
func leaseText(st *strategy.Status, now time.Time) string {
	l := st.Lease
	switch {
	case l.Holder == "" && st.Phase.Terminal():
		return "none (the release has ended)"
	case l.Holder == "":
		return "none: no driver runs the release; the next Run of the app continues it"
	case l.Live(now):
		return fmt.Sprintf("%s, renewed %s (lapses %s)", l.Holder, ago(now, l.Renewed), ago(now, l.Expires()))
	}
	return fmt.Sprintf("%s, lapsed %s (renewed %s): its driver stopped; the next Run of the app continues the release",
		l.Holder, ago(now, l.Expires()), ago(now, l.Renewed))
}

func requestText(q strategy.Request, now time.Time) string {
	s := fmt.Sprintf("%s #%d", q.Action, q.Seq)
	if q.Revision != "" {
		s += " to " + q.Revision
	}
	return fmt.Sprintf("%s by %s, %s", s, orDash(q.By), ago(now, q.At))
}

// writeMeasurements writes the last n measurements, newest last.
func writeMeasurements(w io.Writer, ms []strategy.Measurement, now time.Time, n int) {
	if len(ms) == 0 {
		return
	}
	shown := ms[max(0, len(ms)-n):]
	fmt.Fprintf(w, "Measurements (latest %d of %d):\n", len(shown), len(ms))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  METRIC\tVALUE\tPHASE\tAGE\tMESSAGE")
	for _, m := range shown {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", measurementName(m), orDash(m.Value), m.Phase, age(now, m.Time), m.Message)
	}
	_ = tw.Flush()
}

func (e *env) historyCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "history APP",
		Short: "List the revisions an app's release record remembers, oldest first",
		Long: "List the revisions of an app that its release record keeps (the last 10 by default), oldest\n" +
			"first, with their phase, times and images; undo --to takes one of them.\n" +
			"Needs get on configmaps.\n" + exitCodesHelp,
		Example: "  kubectl switchyard history web -n shop",
		Args:    oneApp,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFormat(out)
			if err != nil {
				return err
			}
			st, app, err := e.status(cmd, args)
			if err != nil {
				return err
			}
			if f != "" {
				return f.print(e.streams.Out, ReleaseHistory{Namespace: app.Namespace, App: app.Name,
					Revision: st.Revision, Stable: st.Stable, History: append([]strategy.Revision{}, st.History...)})
			}
			writeHistory(e.streams.Out, st, e.set.clock.Now())
			return nil
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}

func writeHistory(w io.Writer, st *strategy.Status, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tPHASE\tSTARTED\tFINISHED\tIMAGES\tNOTE\tMESSAGE")
	for _, h := range st.History {
		note := "-"
		switch {
		case h.Revision == st.Stable:
			note = "serving"
		case h.Revision == st.Revision:
			note = "current release"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Revision, orDash(string(h.Phase)), age(now, h.Started),
			age(now, h.Finished), images(h), note, h.Message)
	}
	_ = tw.Flush()
}

// images lists the container images of a revision's recorded workload.
func images(h strategy.Revision) string {
	if h.Workload == nil {
		return "-"
	}
	var out []string
	for _, c := range h.Workload.Spec.Template.Spec.Containers {
		out = append(out, c.Image)
	}
	return orDash(strings.Join(out, ","))
}

// measurementName is "analysis/metric", or the metric alone.
func measurementName(m strategy.Measurement) string {
	if m.Analysis == "" {
		return m.Metric
	}
	return m.Analysis + "/" + m.Metric
}

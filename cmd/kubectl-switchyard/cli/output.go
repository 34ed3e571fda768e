package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	"github.com/switchyard-dev/switchyard/strategy"
)

// ReleaseStatus is a release's status as -o json and -o yaml print it.
// Its fields are those of strategy.Status.
type ReleaseStatus struct {
	Namespace    string                 `json:"namespace"`
	App          string                 `json:"app"`
	Strategy     string                 `json:"strategy,omitempty"`
	Revision     string                 `json:"revision,omitempty"`
	Stable       string                 `json:"stable,omitempty"`
	Phase        strategy.Phase         `json:"phase,omitempty"`
	Reason       strategy.Reason        `json:"reason,omitempty"`
	Message      string                 `json:"message,omitempty"`
	Step         int                    `json:"step"`
	StepName     string                 `json:"stepName,omitempty"`
	Paused       bool                   `json:"paused,omitempty"`
	PauseUntil   time.Time              `json:"pauseUntil,omitzero"`
	Started      time.Time              `json:"started,omitzero"`
	Updated      time.Time              `json:"updated,omitzero"`
	Lease        strategy.Lease         `json:"lease"`
	Pending      []strategy.Request     `json:"pending,omitempty"`
	History      []strategy.Revision    `json:"history,omitempty"`
	Measurements []strategy.Measurement `json:"measurements,omitempty"`
}

// ReleaseList is what list prints with -o json or -o yaml.
type ReleaseList struct {
	Items []ReleaseStatus `json:"items"`
}

// ReleaseHistory is what history prints with -o json or -o yaml: the
// recorded revisions, oldest first.
type ReleaseHistory struct {
	Namespace string              `json:"namespace"`
	App       string              `json:"app"`
	Revision  string              `json:"revision,omitempty"`
	Stable    string              `json:"stable,omitempty"`
	History   []strategy.Revision `json:"history"`
}

func releaseStatus(st *strategy.Status) ReleaseStatus {
	return ReleaseStatus{
		Namespace: st.App.Namespace, App: st.App.Name, Strategy: st.Strategy, Revision: st.Revision,
		Stable: st.Stable, Phase: st.Phase, Reason: st.Reason, Message: st.Message, Step: st.Step,
		StepName: st.StepName, Paused: st.Paused, PauseUntil: st.PauseUntil, Started: st.Started,
		Updated: st.Updated, Lease: st.Lease, Pending: st.Pending, History: st.History,
		Measurements: st.Measurements,
	}
}

// format is an -o value: "" for text, "json" or "yaml".
type format string

func addOutputFlag(cmd *cobra.Command, f *string) {
	cmd.Flags().StringVarP(f, "output", "o", "", "print the result as json or yaml, for scripts (progress notes go to stderr)")
}

func parseFormat(s string) (format, error) {
	switch s {
	case "", "json", "yaml":
		return format(s), nil
	}
	return "", usageErrorf("-o %s: choose json or yaml", s)
}

// print writes v as f says; text is never passed here.
func (f format) print(w io.Writer, v any) error {
	var out []byte
	var err error
	if f == "yaml" {
		out, err = yaml.Marshal(v)
	} else {
		out, err = json.MarshalIndent(v, "", "  ")
		out = append(out, '\n')
	}
	if err != nil {
		return fmt.Errorf("encoding the output: %w", err)
	}
	_, err = w.Write(out)
	return err
}

// ago says how long before now t was: "5m ago", or "-" for no time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if d := now.Sub(t); d >= 0 {
		return duration.HumanDuration(d) + " ago"
	}
	return "in " + duration.HumanDuration(t.Sub(now))
}

// age is ago without "ago", for tables.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(max(now.Sub(t), 0))
}

// orDash returns s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// stepOf names the step of st: "3 promotion".
func stepOf(st *strategy.Status) string {
	if st.StepName == "" {
		return "-"
	}
	return fmt.Sprintf("%d %s", st.Step, st.StepName)
}

// weightOf returns the new revision's share of traffic, when the status
// says it: the last traffic split of the release's timeline (0 after a
// rollback). A release whose timeline has no split yet reports none.
func weightOf(st *strategy.Status) (int32, bool) {
	for i := len(st.Timeline) - 1; i >= 0; i-- {
		switch e := st.Timeline[i]; e.Kind {
		case strategy.EntryRollback:
			return 0, true
		case strategy.EntryTraffic:
			return e.Weight, true
		}
	}
	return 0, false
}

// weightText is the weight as a table shows it: "25%", or "-".
func weightText(st *strategy.Status) string {
	if w, ok := weightOf(st); ok {
		return fmt.Sprintf("%d%%", w)
	}
	return "-"
}

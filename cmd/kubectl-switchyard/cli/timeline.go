package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/timeline"
)

// ReleaseTimeline is what timeline prints with -o json: the release and
// the entries of its timeline, oldest first.
type ReleaseTimeline struct {
	Namespace string           `json:"namespace"`
	App       string           `json:"app"`
	Strategy  string           `json:"strategy,omitempty"`
	Revision  string           `json:"revision,omitempty"`
	Phase     strategy.Phase   `json:"phase,omitempty"`
	Started   time.Time        `json:"started,omitzero"`
	Timeline  []strategy.Entry `json:"timeline"`
}

func (e *env) timelineCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "timeline APP",
		Short: "Show what the current release of an app did, as a list or a picture",
		Long: "Show the timeline of an app's current release, as its release record keeps it: the steps, the\n" +
			"traffic split and pods, the analysis measurements against their limits, pauses, promotion,\n" +
			"aborts and rollbacks, and the requests taken, with who sent them. -o svg draws it as a picture\n" +
			"to open in a browser; -o json prints the entries for scripts.\n" +
			"Needs get on configmaps.\n" + exitCodesHelp,
		Example: "  kubectl switchyard timeline web -n shop\n" +
			"  kubectl switchyard timeline web -n shop -o svg > web.svg",
		Args: oneApp,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch out {
			case "text", "svg", "json":
			default:
				return usageErrorf("-o %s: choose text, svg or json", out)
			}
			st, app, err := e.status(cmd, args)
			if err != nil {
				return err
			}
			switch out {
			case "svg":
				return timeline.SVG(e.streams.Out, st)
			case "json":
				return format("json").print(e.streams.Out, ReleaseTimeline{Namespace: app.Namespace, App: app.Name,
					Strategy: st.Strategy, Revision: st.Revision, Phase: st.Phase, Started: st.Started,
					Timeline: append([]strategy.Entry{}, st.Timeline...)})
			}
			return timeline.Text(e.streams.Out, st)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "text", "text (a list), svg (a picture) or json")
	return cmd
}

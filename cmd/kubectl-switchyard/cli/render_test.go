package cli

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// paused is a blue/green release of v2 paused for its promotion, with a
// Promote pending and two measurements.
func paused() *strategy.Status {
	return &strategy.Status{
		App: types.NamespacedName{Namespace: "shop", Name: "web"}, Strategy: "bluegreen",
		Revision: "v2", Stable: "v1", Phase: strategy.PhasePaused, Message: "paused until Promote",
		Step: 3, StepName: "promotion", Started: t0.Add(-5 * time.Minute), Updated: t0.Add(-10 * time.Second),
		Lease:   strategy.Lease{Holder: "deployer-0", Renewed: t0.Add(-4 * time.Second), Duration: metav1.Duration{Duration: 30 * time.Second}},
		Pending: []strategy.Request{{Seq: 7, Action: strategy.ActionPromote, By: "oncall", At: t0.Add(-2 * time.Second)}},
		Measurements: []strategy.Measurement{
			{Analysis: "errors", Metric: "error-ratio", Phase: "Successful", Value: "0.002", Time: t0.Add(-90 * time.Second)},
			{Analysis: "errors", Metric: "error-ratio", Phase: "Failed", Value: "0.2", Time: t0.Add(-30 * time.Second), Message: "result 0.2 not <= 0.05"},
		},
	}
}

// TestRenderPaused checks a whole frame of the live view.
func TestRenderPaused(t *testing.T) {
	got := frame{st: paused(), now: t0}.render()
	want := `web in shop · bluegreen · v2 (stable v1)
Phase:    Paused: paused until Promote
Weight:   - (the record does not say)
Steps:
  ✓ 0 deploy
  ✓ 1 preview-available
  ✓ 2 pre-promotion
  ▶ 3 promotion  ← current
    4 full-available
    5 switch
    6 verify-endpoints
    7 post-promotion
    8 scale-down
Lease:    deployer-0, renewed 4s ago (lapses in 26s)
Pending:  Promote #7 by oncall, 2s ago
Measurements (latest 2 of 2):
  METRIC              VALUE  PHASE       AGE  MESSAGE
  errors/error-ratio  0.002  Successful  90s  
  errors/error-ratio  0.2    Failed      30s  result 0.2 not <= 0.05
Updated 10s ago. Ctrl-C stops watching; the release goes on.
`
	assert.Equal(t, want, got)
}

// TestRenderCases checks parts of frames of releases in other states.
func TestRenderCases(t *testing.T) {
	cases := map[string]struct {
		edit    func(*strategy.Status)
		seen    map[int]string
		want    []string
		notWant []string
	}{
		"canary steps seen so far": {
			edit: func(s *strategy.Status) {
				s.Strategy, s.Phase, s.Step, s.StepName, s.Message = "canary", strategy.PhaseProgressing, 2, "1-Pause", ""
			},
			seen: map[int]string{0: "deploy", 1: "0-SetWeight", 2: "1-Pause"},
			want: []string{"Steps:\n  ✓ 0 deploy\n  ✓ 1 0-SetWeight\n  ▶ 2 1-Pause  ← current\n    … later steps are not in the record\n"},
		},
		"canary watched from the middle": {
			edit: func(s *strategy.Status) { s.Strategy, s.Step, s.StepName = "canary", 4, "3-Analysis" },
			want: []string{"Steps:\n  ▶ 4 3-Analysis  ← current\n    … later steps"},
		},
		"succeeded": {
			edit: func(s *strategy.Status) {
				s.Phase, s.Step, s.StepName, s.Stable, s.Pending, s.Lease.Holder = strategy.PhaseSucceeded, 8, "scale-down", "v2", nil, ""
			},
			want:    []string{"· v2 (serving)\n", "  ✓ 8 scale-down\n", "Lease:    none (the release has ended)\n", "Pending:  none\n", "The release has ended.\n"},
			notWant: []string{"▶", "Ctrl-C"},
		},
		"aborted": {
			edit: func(s *strategy.Status) {
				s.Phase, s.Reason, s.StepName, s.Message = strategy.PhaseAborted, strategy.ReasonAnalysisFailed, record.StepAborting, "check errors failed"
			},
			want: []string{"Phase:    Aborted (AnalysisFailed): check errors failed\n", "  ✓ 2 pre-promotion\n  ✗ 3 promotion  ← aborted here\n    4 full-available\n"},
		},
		"lease lapsed": {
			edit: func(s *strategy.Status) { s.Lease.Renewed = t0.Add(-2 * time.Minute) },
			want: []string{"Lease:    deployer-0, lapsed 90s ago (renewed 2m ago): its driver stopped; the next Run of the app continues the release\n"},
		},
		"no driver": {
			edit: func(s *strategy.Status) { s.Lease.Holder = "" },
			want: []string{"Lease:    none: no driver runs the release; the next Run of the app continues it\n"},
		},
		"held by a Pause request, timed pause": {
			edit: func(s *strategy.Status) { s.Paused, s.PauseUntil = true, t0.Add(time.Minute) },
			want: []string{"Phase:    Paused, held by a Pause request: paused until Promote\n", "Pause ends in 60s\n"},
		},
		"unknown step of a documented strategy": {
			edit: func(s *strategy.Status) { s.StepName = "renamed" },
			want: []string{"Steps:\n  ▶ 3 renamed  ← current\n    … later steps"},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			st := paused()
			c.edit(st)
			got := frame{st: st, now: t0, seen: c.seen}.render()
			for _, w := range c.want {
				assert.Contains(t, got, w)
			}
			for _, w := range c.notWant {
				assert.NotContains(t, got, w)
			}
		})
	}
}

// TestRenderWidth: no line is as wide as the terminal, so none wraps.
func TestRenderWidth(t *testing.T) {
	got := frame{st: paused(), now: t0, width: 24}.render()
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		assert.Less(t, utf8.RuneCountInString(l), 24, l)
	}
	assert.Contains(t, got, "web in shop · bluegreen\nPhase:    Paused: pause\n")
}

func TestSummary(t *testing.T) {
	assert.Equal(t, "web v2 Paused step 3 promotion driver deployer-0 pending Promote "+
		"measurements 2, latest errors/error-ratio=0.2 Failed: paused until Promote", summary(paused()))
	st := paused()
	st.Lease.Renewed = t0 // a renewal alone changes nothing
	assert.Equal(t, summary(paused()), summary(st))
	st.Phase, st.Reason, st.StepName, st.Lease.Holder, st.Pending, st.Measurements, st.Message =
		strategy.PhaseAborted, strategy.ReasonRequested, "", "", nil, nil, "aborted by oncall"
	assert.Equal(t, "web v2 Aborted (Requested) driver none: aborted by oncall", summary(st))
}

func TestWeightBar(t *testing.T) {
	assert.Equal(t, "[░░░░░░░░░░]", weightBar(0, 10))
	assert.Equal(t, "[██░░░░░░░░]", weightBar(25, 10))
	assert.Equal(t, "[██████████]", weightBar(100, 10))
	assert.Equal(t, "[██████████]", weightBar(120, 10))
}

func TestStepLines(t *testing.T) {
	st := paused()
	st.Strategy = "rolling"
	st.Step, st.StepName = 1, "available"
	lines, complete := stepLines(st, nil)
	assert.True(t, complete)
	assert.Equal(t, []stepLine{{0, "apply", stepDone}, {1, "available", stepCurrent}}, lines)
	st.StepName = ""
	lines, _ = stepLines(st, nil)
	assert.Empty(t, lines)
}

func TestWeightComesFromTheTimeline(t *testing.T) {
	st := &strategy.Status{}
	_, ok := weightOf(st)
	assert.False(t, ok, "no split yet")
	st.Timeline = []strategy.Entry{{Kind: strategy.EntryTraffic, Weight: 25}, {Kind: strategy.EntryStep}}
	w, ok := weightOf(st)
	assert.True(t, ok)
	assert.Equal(t, int32(25), w)
	assert.Equal(t, "25%", weightText(st))
	st.Timeline = append(st.Timeline, strategy.Entry{Kind: strategy.EntryRollback})
	w, _ = weightOf(st)
	assert.Zero(t, w, "all traffic back after a rollback")
}

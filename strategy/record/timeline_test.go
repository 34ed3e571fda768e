package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 123456789, time.UTC)

func step(i int, at time.Duration) Entry {
	return Entry{Time: t0.Add(at), Kind: EntryStep, Step: i, StepName: fmt.Sprintf("%d-SetWeight", i), StepKind: "SetWeight"}
}

func measurement(at time.Duration, v string) Entry {
	return Entry{Time: t0.Add(at), Kind: EntryMeasurement, Analysis: "errors", Metric: "error-ratio", Value: v,
		Verdict: "Successful", Limit: "result <= 0.05"}
}

func TestAppendTimelineBounds(t *testing.T) {
	t.Parallel()
	t.Run("measurements go first, transitions stay", func(t *testing.T) {
		var r Record
		r.AppendTimeline(step(0, 0), step(1, time.Second))
		var ms []Entry
		for i := range TimelineLimit - 2 {
			ms = append(ms, measurement(2*time.Second+time.Duration(i)*time.Second, fmt.Sprint(i)))
		}
		r.AppendTimeline(ms...)
		require.Equal(t, TimelineLimit, len(r.Timeline))
		r.AppendTimeline(measurement(time.Hour-2*time.Second, "398"), measurement(time.Hour-time.Second, "399"))
		r.AppendTimeline(Entry{Time: t0.Add(time.Hour), Kind: EntryPhase, Phase: PhaseSucceeded})
		require.Equal(t, TimelineLimit, len(r.Timeline))
		assert.Equal(t, EntryStep, r.Timeline[0].Kind)
		assert.Equal(t, EntryStep, r.Timeline[1].Kind)
		assert.Equal(t, "3", r.Timeline[2].Value, "the three oldest measurements were dropped")
		assert.Equal(t, EntryPhase, r.Timeline[TimelineLimit-1].Kind)
	})
	t.Run("without measurements the oldest go", func(t *testing.T) {
		var r Record
		var steps []Entry
		for i := range TimelineLimit + 4 {
			steps = append(steps, step(i, time.Duration(i)*time.Second))
		}
		r.AppendTimeline(steps...)
		r.AppendTimeline(step(TimelineLimit+4, time.Hour))
		require.Equal(t, TimelineLimit, len(r.Timeline))
		assert.Equal(t, 5, r.Timeline[0].Step)
	})
	t.Run("size", func(t *testing.T) {
		var r Record
		long := strings.Repeat("x", 1000) // cut to maxText
		var checks []Entry
		for i := range TimelineLimit {
			checks = append(checks, Entry{Time: t0.Add(time.Duration(i)), Kind: EntryCheck, Message: long})
		}
		r.AppendTimeline(checks...)
		b, err := json.Marshal(r.Timeline)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(b), TimelineBytes)
		assert.Less(t, len(r.Timeline), TimelineLimit)
		assert.LessOrEqual(t, len(r.Timeline[0].Message), maxText)
	})
	t.Run("in order of time", func(t *testing.T) {
		var r Record
		r.AppendTimeline(step(0, 0), step(2, 2*time.Second))
		r.AppendTimeline(measurement(time.Second, "0.01"), step(3, 2*time.Second))
		var kinds []string
		for _, e := range r.Timeline {
			kinds = append(kinds, fmt.Sprintf("%s@%s", e.Kind, e.Time.Sub(t0)))
		}
		assert.Equal(t, []string{"step@0s", "measurement@1s", "step@2s", "step@2s"}, kinds)
		assert.Equal(t, 2, r.Timeline[2].Step, "entries of the same time keep their order")
	})
}

func TestSizeAtMost(t *testing.T) {
	t.Parallel()
	for name, e := range map[string]Entry{
		"empty":       {},
		"step":        step(3, time.Second),
		"measurement": measurement(time.Second, "0.0123"),
		"escapes":     {Kind: EntryCheck, Message: "<a href=\"x\">&\n\t\u2028\xff</a>"},
		"unicode":     {Kind: EntryCheck, Message: strings.Repeat("é→", 40), By: "日本"},
		"numbers": {Time: t0, Kind: EntryTraffic, Step: -1 << 40, Weight: -1 << 31, CanaryPods: 1<<31 - 1, StablePods: -7,
			Sent: t0.In(time.FixedZone("", 5*3600+1800))},
	} {
		b, err := json.Marshal(e)
		require.NoError(t, err, name)
		assert.GreaterOrEqual(t, e.sizeAtMost(), len(b), name)
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "short", clip("short", 10))
	got := clip(strings.Repeat("é", 200), maxText)
	assert.True(t, utf8.ValidString(got))
	assert.LessOrEqual(t, len(got), maxText)
	assert.True(t, strings.HasSuffix(got, "…"))
}

func TestRestartClearsTimeline(t *testing.T) {
	t.Parallel()
	r := Record{Timeline: []Entry{step(0, 0)}}
	require.NoError(t, r.Restart(Revision{Revision: "v2", Started: t0}, "deploy", nil, 10))
	assert.Empty(t, r.Timeline)
}

func TestTimelineProblems(t *testing.T) {
	t.Parallel()
	many := make([]Entry, 2*TimelineLimit+1)
	for i := range many {
		many[i] = step(i, 0)
	}
	for name, tc := range map[string]struct {
		timeline []Entry
		want     string // "" for none
	}{
		"valid": {timeline: []Entry{step(0, 0), measurement(time.Second, "0.01"),
			{Kind: EntryPhase, Phase: PhasePaused}, {Kind: EntryRequest, Action: ActionPromote, By: "oncall"},
			{Kind: EntryTraffic, Weight: 100, CanaryPods: 5}}},
		"too many":        {timeline: many, want: "801 timeline entries"},
		"unknown kind":    {timeline: []Entry{{Kind: "explode"}}, want: `timeline entry 0: unknown kind "explode"`},
		"no kind":         {timeline: []Entry{{}}, want: `unknown kind ""`},
		"unknown phase":   {timeline: []Entry{step(0, 0), {Kind: EntryPhase, Phase: "Bogus"}}, want: `timeline entry 1: unknown phase "Bogus"`},
		"phase missing":   {timeline: []Entry{{Kind: EntryPhase}}, want: `unknown phase ""`},
		"unknown reason":  {timeline: []Entry{{Kind: EntryPhase, Phase: PhaseAborted, Reason: "Because"}}, want: `unknown reason "Because"`},
		"unknown request": {timeline: []Entry{{Kind: EntryRequest, Action: "Explode"}}, want: `unknown request "Explode"`},
		"weight":          {timeline: []Entry{{Kind: EntryTraffic, Weight: 101}}, want: "weight 101 out of range"},
		"pods":            {timeline: []Entry{{Kind: EntryTraffic, StablePods: -1}}, want: "negative pod count"},
		"step":            {timeline: []Entry{{Kind: EntryStep, Step: -2}}, want: "step -2 out of range"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := Record{Schema: RecordSchema, App: "web", Timeline: tc.timeline}
			got := strings.Join(r.Problems(), "; ")
			if tc.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tc.want)
			_, err := Decode(types.NamespacedName{Namespace: "shop", Name: "web"}, recordMap(t, &r))
			assert.True(t, errors.Is(err, ErrCorruptRecord), "Decode: %v", err)
		})
	}
}

func TestTimelineProblemsAreFew(t *testing.T) {
	t.Parallel()
	r := Record{Timeline: make([]Entry, 50)} // every entry of no kind
	assert.Len(t, r.Problems(), 3)
}

func TestTimelineRoundTrip(t *testing.T) {
	t.Parallel()
	r := Record{Schema: RecordSchema, App: "web", Timeline: []Entry{step(1, 0),
		{Time: t0.Add(time.Minute), Kind: EntryRequest, Action: ActionPromote, By: "oncall", Sent: t0.Add(59 * time.Second)}}}
	raw, err := Encode(&r)
	require.NoError(t, err)
	assert.Contains(t, raw, `"timeline":[{"time":"2026-03-01T12:00:00.123456789Z","kind":"step","step":1,"stepName":"1-SetWeight","stepKind":"SetWeight"}`)
	got, err := Decode(types.NamespacedName{Namespace: "shop", Name: "web"}, recordMap(t, &r))
	require.NoError(t, err)
	assert.Equal(t, r.Timeline, got.Timeline)
	assert.Equal(t, r.Timeline, r.Clone().Timeline)
}

// recordMap is r in a record ConfigMap of app web.
func recordMap(t *testing.T, r *Record) *corev1.ConfigMap {
	t.Helper()
	raw, err := Encode(r)
	require.NoError(t, err)
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: Name("web"), Namespace: "shop",
			Labels: map[string]string{LabelManagedBy: ManagedBy, LabelRecord: "true"}},
		Data: map[string]string{RecordKey: raw},
	}
}

package judge

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScore(t *testing.T) {
	m := func(name, group string, d Decision) MetricOutcome {
		return MetricOutcome{Name: name, Group: group, Decision: d}
	}
	tests := []struct {
		name     string
		metrics  []MetricOutcome
		weights  map[string]float64
		want     float64
		verdict  Verdict
		groups   map[string]float64
		critical []string
	}{
		{
			name:    "all pass",
			metrics: []MetricOutcome{m("a", "g", Pass), m("b", "g", Pass)},
			want:    100, verdict: VerdictPass, groups: map[string]float64{"g": 100},
		},
		{
			name:    "one of four high is 75, marginal",
			metrics: []MetricOutcome{m("a", "g", Pass), m("b", "g", Pass), m("c", "g", Pass), m("d", "g", High)},
			want:    75, verdict: VerdictMarginal, groups: map[string]float64{"g": 75},
		},
		{
			name:    "high and low both count against",
			metrics: []MetricOutcome{m("a", "g", Pass), m("b", "g", High), m("c", "g", Low)},
			want:    100.0 / 3, verdict: VerdictFail, groups: map[string]float64{"g": 100.0 / 3},
		},
		{
			name:    "no data is left out",
			metrics: []MetricOutcome{m("a", "g", Pass), m("b", "g", NoData)},
			want:    100, verdict: VerdictPass, groups: map[string]float64{"g": 100},
		},
		{
			name: "no data with mustHaveData fails",
			metrics: []MetricOutcome{m("a", "g", Pass),
				{Name: "b", Group: "g", Decision: NoData, MustHaveData: true}},
			want: 50, verdict: VerdictFail, groups: map[string]float64{"g": 50},
		},
		{
			name: "group weights 70/30",
			metrics: []MetricOutcome{m("a", "latency", Pass), m("b", "latency", High),
				m("c", "errors", Pass)},
			weights: map[string]float64{"latency": 70, "errors": 30},
			want:    0.7*50 + 0.3*100, verdict: VerdictFail,
			groups: map[string]float64{"latency": 50, "errors": 100},
		},
		{
			name: "weights need not sum to 100",
			metrics: []MetricOutcome{m("a", "latency", Pass), m("b", "latency", High),
				m("c", "errors", Pass)},
			weights: map[string]float64{"latency": 1, "errors": 3},
			want:    (50 + 3*100) / 4.0, verdict: VerdictMarginal,
			groups: map[string]float64{"latency": 50, "errors": 100},
		},
		{
			name: "equal group weights by default",
			metrics: []MetricOutcome{m("a", "latency", High), m("c", "errors", Pass),
				m("d", "errors", Pass)},
			want: 50, verdict: VerdictFail, groups: map[string]float64{"latency": 0, "errors": 100},
		},
		{
			name:    "a group without data has no part",
			metrics: []MetricOutcome{m("a", "latency", NoData), m("c", "errors", Pass)},
			weights: map[string]float64{"latency": 90, "errors": 10},
			want:    100, verdict: VerdictPass, groups: map[string]float64{"latency": 0, "errors": 100},
		},
		{
			name: "metric weights",
			metrics: []MetricOutcome{{Name: "a", Group: "g", Decision: Pass, Weight: 3},
				{Name: "b", Group: "g", Decision: High}},
			want: 75, verdict: VerdictMarginal, groups: map[string]float64{"g": 75},
		},
		{
			name: "a critical failure is 0",
			metrics: []MetricOutcome{m("a", "g", Pass), m("b", "g", Pass), m("c", "h", Pass),
				{Name: "errors", Group: "h", Decision: High, Critical: true}},
			want: 0, verdict: VerdictFail, groups: map[string]float64{"g": 100, "h": 50},
			critical: []string{"errors"},
		},
		{
			name: "a critical metric without data fails only with mustHaveData",
			metrics: []MetricOutcome{m("a", "g", Pass),
				{Name: "x", Group: "g", Decision: NoData, Critical: true},
				{Name: "y", Group: "g", Decision: NoData, Critical: true, MustHaveData: true}},
			want: 0, verdict: VerdictFail, groups: map[string]float64{"g": 50},
			critical: []string{"y"},
		},
		{
			name:    "a passing critical metric changes nothing",
			metrics: []MetricOutcome{{Name: "a", Group: "g", Decision: Pass, Critical: true}},
			want:    100, verdict: VerdictPass, groups: map[string]float64{"g": 100},
		},
		{
			name:    "no data at all fails",
			metrics: []MetricOutcome{m("a", "g", NoData), m("b", "h", NoData)},
			want:    0, verdict: VerdictFail, groups: map[string]float64{"g": 0, "h": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultScoreOptions()
			opts.GroupWeights = tt.weights
			r, err := Score(tt.metrics, opts)
			require.NoError(t, err)
			assert.InDelta(t, tt.want, r.Score, 1e-9)
			assert.Equal(t, tt.verdict, r.Verdict, r.Reason)
			got := map[string]float64{}
			for i, g := range r.Groups {
				got[g.Group] = g.Score
				if i > 0 {
					assert.Less(t, r.Groups[i-1].Group, g.Group, "groups by name")
				}
			}
			assert.InDeltaMapValues(t, tt.groups, got, 1e-9)
			assert.Equal(t, tt.critical, r.CriticalFailures)
			assert.NotEmpty(t, r.Reason)
		})
	}
}

func TestScoreReason(t *testing.T) {
	r, err := Score([]MetricOutcome{
		{Name: "p99", Group: "latency", Decision: High},
		{Name: "p50", Group: "latency", Decision: Pass},
	}, DefaultScoreOptions())
	require.NoError(t, err)
	assert.Equal(t, `score 50: Fail at pass threshold 95, marginal 75; "latency" 50 (1 high, 0 low, 0 no data)`, r.Reason)
}

func TestScoreErrors(t *testing.T) {
	ok := []MetricOutcome{{Name: "a", Group: "g"}}
	tests := []struct {
		field   string
		metrics []MetricOutcome
		modify  func(*ScoreOptions)
	}{
		{"metrics", nil, nil},
		{"metrics[0].Weight", []MetricOutcome{{Name: "a", Weight: -1}}, nil},
		{"metrics[0].Weight", []MetricOutcome{{Name: "a", Weight: math.NaN()}}, nil},
		{"metrics[0].Decision", []MetricOutcome{{Name: "a", Decision: 42}}, nil},
		{`GroupWeights["g"]`, ok, func(o *ScoreOptions) { o.GroupWeights = map[string]float64{"h": 1} }},
		{`GroupWeights["g"]`, ok, func(o *ScoreOptions) { o.GroupWeights = map[string]float64{"g": -1} }},
		{"PassThreshold", ok, func(o *ScoreOptions) { o.PassThreshold = 101 }},
		{"MarginalThreshold", ok, func(o *ScoreOptions) { o.MarginalThreshold = 96 }},
		{"MarginalThreshold", ok, func(o *ScoreOptions) { o.MarginalThreshold = -1 }},
	}
	for _, tt := range tests {
		opts := DefaultScoreOptions()
		if tt.modify != nil {
			tt.modify(&opts)
		}
		_, err := Score(tt.metrics, opts)
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%s: %v", tt.field, err)
		assert.Equal(t, tt.field, ce.Field)
	}
}

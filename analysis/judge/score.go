package judge

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Default score thresholds of DefaultScoreOptions (Kayenta's usual 95/75).
const (
	DefaultPassThreshold     = 95.0
	DefaultMarginalThreshold = 75.0
)

// MetricOutcome is one judged metric, the input of Score.
type MetricOutcome struct {
	// Name identifies the metric in critical failures and reasons.
	Name string
	// Group is the metric's group; groups are weighted in the summary.
	Group string
	// Decision is the metric's verdict.
	Decision Decision
	// Weight of the metric inside its group; 0 means 1. It must not be
	// negative. Kayenta has no metric weights, which is every weight 1.
	Weight float64
	// Critical: a High or Low decision (or NoData with MustHaveData) fails
	// the whole analysis with score 0.
	Critical bool
	// MustHaveData: NoData counts as a failure; otherwise a metric without
	// data is left out of its group's score.
	MustHaveData bool
}

// ScoreOptions configures Score. Start from DefaultScoreOptions.
type ScoreOptions struct {
	// GroupWeights weighs the groups' scores in the summary. Empty weighs
	// every group equally; otherwise every group of the metrics needs a
	// weight >= 0, and weights of groups without metrics are ignored. The
	// weights need not sum to 100: the summary divides by their sum over the
	// groups that have data.
	GroupWeights map[string]float64
	// PassThreshold and MarginalThreshold classify the summary: at least
	// PassThreshold passes, at least MarginalThreshold is marginal, below is
	// a failure. 0 <= MarginalThreshold <= PassThreshold <= 100.
	PassThreshold, MarginalThreshold float64
}

// DefaultScoreOptions returns equal group weights and thresholds 95 and 75.
func DefaultScoreOptions() ScoreOptions {
	return ScoreOptions{PassThreshold: DefaultPassThreshold, MarginalThreshold: DefaultMarginalThreshold}
}

// Verdict classifies a summary score.
type Verdict int

const (
	// VerdictFail: the score is below the marginal threshold, a critical
	// metric failed, or nothing had data.
	VerdictFail Verdict = iota
	// VerdictMarginal: the score is between the thresholds; a person or a
	// further interval should decide.
	VerdictMarginal
	// VerdictPass: the score reaches the pass threshold.
	VerdictPass
)

func (v Verdict) String() string {
	switch v {
	case VerdictFail:
		return "Fail"
	case VerdictMarginal:
		return "Marginal"
	case VerdictPass:
		return "Pass"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// GroupScore is the score of one group. The counts are weighted by the
// metrics' weights.
type GroupScore struct {
	Group string
	// Weight is the group's weight from the options (1 when they are empty).
	Weight float64
	// Pass, High, Low, NoDataFail (NoData with MustHaveData) and NoData (left
	// out) count the group's metrics by decision.
	Pass, High, Low, NoDataFail, NoData float64
	// HasData is false when every metric of the group was left out; such a
	// group has Score 0 and no part in the summary.
	HasData bool
	// Score is 100 × Pass / (Pass + High + Low + NoDataFail).
	Score float64
}

// ScoreResult is the outcome of Score.
type ScoreResult struct {
	// Score is the weighted mean of the scores of the groups with data, in
	// [0, 100]; 0 after a critical failure or when no group has data.
	Score float64
	// Verdict classifies Score by the thresholds.
	Verdict Verdict
	// Groups are the group scores, by group name.
	Groups []GroupScore
	// CriticalFailures names the critical metrics that failed.
	CriticalFailures []string
	// Reason explains the verdict in one line.
	Reason string
}

// Score combines metric decisions as Kayenta's NetflixACAJudge does: each
// group scores pass / (pass + high + low + nodata-fail) × 100, the summary is
// the weighted mean of the group scores, and any critical failure makes the
// summary 0 and the verdict Fail.
func Score(metrics []MetricOutcome, opts ScoreOptions) (ScoreResult, error) {
	if err := opts.validate(); err != nil {
		return ScoreResult{}, err
	}
	if len(metrics) == 0 {
		return ScoreResult{}, configErrorf("metrics", "no metrics to score")
	}
	groups := map[string]*GroupScore{}
	var critical []string
	for i, m := range metrics {
		w := m.Weight
		switch {
		case !(w >= 0) || math.IsInf(w, 1):
			return ScoreResult{}, configErrorf(fmt.Sprintf("metrics[%d].Weight", i), "%v must be finite and >= 0", w)
		case w == 0:
			w = 1
		}
		g := groups[m.Group]
		if g == nil {
			g = &GroupScore{Group: m.Group, Weight: 1}
			if len(opts.GroupWeights) > 0 {
				gw, ok := opts.GroupWeights[m.Group]
				if !ok {
					return ScoreResult{}, configErrorf(fmt.Sprintf("GroupWeights[%q]", m.Group), "group of metric %q has no weight", m.Name)
				}
				g.Weight = gw
			}
			groups[m.Group] = g
		}
		failed := false
		switch m.Decision {
		case Pass:
			g.Pass += w
		case High:
			g.High += w
			failed = true
		case Low:
			g.Low += w
			failed = true
		case NoData:
			if m.MustHaveData {
				g.NoDataFail += w
				failed = true
			} else {
				g.NoData += w
			}
		default:
			return ScoreResult{}, configErrorf(fmt.Sprintf("metrics[%d].Decision", i), "unknown decision %d", int(m.Decision))
		}
		if failed && m.Critical {
			critical = append(critical, m.Name)
		}
	}

	r := ScoreResult{CriticalFailures: critical}
	var sum, weights float64
	for _, g := range groups {
		counted := g.Pass + g.High + g.Low + g.NoDataFail
		if counted > 0 {
			g.HasData = true
			g.Score = 100 * g.Pass / counted
			sum += g.Weight * g.Score
			weights += g.Weight
		}
		r.Groups = append(r.Groups, *g)
	}
	slices.SortFunc(r.Groups, func(a, b GroupScore) int { return strings.Compare(a.Group, b.Group) })

	switch {
	case len(critical) > 0:
		r.Reason = fmt.Sprintf("critical metrics failed: %s", strings.Join(critical, ", "))
	case !anyData(r.Groups):
		r.Reason = "no metric had data"
	case weights == 0:
		r.Reason = "every group with data has weight 0"
	default:
		r.Score = min(100, sum/weights)
		switch {
		case r.Score >= opts.PassThreshold:
			r.Verdict = VerdictPass
		case r.Score >= opts.MarginalThreshold:
			r.Verdict = VerdictMarginal
		}
		r.Reason = fmt.Sprintf("score %.4g: %s at pass threshold %.4g, marginal %.4g%s",
			r.Score, r.Verdict, opts.PassThreshold, opts.MarginalThreshold, failedGroups(r.Groups))
	}
	return r, nil
}

func anyData(gs []GroupScore) bool {
	for _, g := range gs {
		if g.HasData {
			return true
		}
	}
	return false
}

// failedGroups lists the groups below 100, for the reason.
func failedGroups(gs []GroupScore) string {
	var parts []string
	for _, g := range gs {
		if g.HasData && g.Score < 100 {
			parts = append(parts, fmt.Sprintf("%q %.4g (%g high, %g low, %g no data)", g.Group, g.Score, g.High, g.Low, g.NoDataFail))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

func (o ScoreOptions) validate() error {
	for _, g := range slices.Sorted(maps.Keys(o.GroupWeights)) {
		if w := o.GroupWeights[g]; !(w >= 0) || math.IsInf(w, 1) {
			return configErrorf(fmt.Sprintf("GroupWeights[%q]", g), "%v must be finite and >= 0", w)
		}
	}
	switch {
	case !(o.PassThreshold >= 0 && o.PassThreshold <= 100):
		return configErrorf("PassThreshold", "%v is outside [0, 100]", o.PassThreshold)
	case !(o.MarginalThreshold >= 0 && o.MarginalThreshold <= o.PassThreshold):
		return configErrorf("MarginalThreshold", "%v is outside [0, PassThreshold %v]", o.MarginalThreshold, o.PassThreshold)
	}
	return nil
}

package analysis

import (
	"context"
	"fmt"
	"strings"

	"github.com/switchyard-dev/switchyard/analysis/judge"
	"github.com/switchyard-dev/switchyard/strategy"
)

// Scored is one judge of a Score, with its place in the score.
type Scored struct {
	// Name identifies the judge in reasons; unique in its Score.
	Name string
	// Group is the judge's group; groups are weighted in the summary.
	Group string
	// Weight inside the group; 0 means 1.
	Weight float64
	// Critical: a failure makes the score 0.
	Critical bool
	// MustHaveData: no data counts as a failure instead of being left out.
	MustHaveData bool
	// Judge decides, such as a Compare or a Proportion.
	Judge Decider
}

// Score is a provider that runs several judges at each measurement and
// combines their decisions into a weighted score (judge.Score), as Kayenta
// does: a score at the pass threshold is Successful, one between the
// thresholds is Inconclusive (a person should look), and one below, or a
// failed critical judge, is Failed. The result's value is the score, 0 to
// 100.
type Score struct {
	Judges []Scored
	// Options are the group weights and thresholds; nil is
	// judge.DefaultScoreOptions(): equal weights, pass 95, marginal 75.
	Options *judge.ScoreOptions
}

var (
	_ Provider   = Score{}
	_ Validating = Score{}
)

func (s Score) options() judge.ScoreOptions {
	if s.Options == nil {
		return judge.DefaultScoreOptions()
	}
	return *s.Options
}

func (s Score) outcomes() []judge.MetricOutcome {
	out := make([]judge.MetricOutcome, len(s.Judges))
	for i, j := range s.Judges {
		out[i] = judge.MetricOutcome{Name: j.Name, Group: j.Group, Weight: j.Weight,
			Critical: j.Critical, MustHaveData: j.MustHaveData}
	}
	return out
}

// Measure runs every judge and scores their decisions.
func (s Score) Measure(ctx context.Context, q Query) (Result, error) {
	outs := s.outcomes()
	raw := make([]string, len(s.Judges))
	for i, j := range s.Judges {
		d, err := j.Judge.Decide(ctx, q)
		if err != nil {
			return Result{}, fmt.Errorf("judge %s: %w", j.Name, err)
		}
		outs[i].Decision = d.Decision
		raw[i] = fmt.Sprintf("%s: %s", j.Name, d.Reason)
	}
	r, err := judge.Score(outs, s.options())
	if err != nil {
		return Result{}, err
	}
	res := Result{Value: r.Score, Reason: r.Reason, Raw: strings.Join(raw, "\n")}
	switch r.Verdict {
	case judge.VerdictPass:
		res.Verdict = PhaseSuccessful
	case judge.VerdictMarginal:
		res.Verdict = PhaseInconclusive
	default:
		res.Verdict = PhaseFailed
	}
	return res, nil
}

// Validate checks the judges, their weights and the options.
func (s Score) Validate(v *strategy.Validator, path, _ string) {
	p := path + ".provider"
	if len(s.Judges) == 0 {
		v.Add(p+".judges", nil, "must not be empty")
		return
	}
	seen := map[string]bool{}
	for i, j := range s.Judges {
		jp := fmt.Sprintf("%s.judges[%d]", p, i)
		v.Check(j.Name != "", jp+".name", nil, "must not be empty")
		v.Check(!seen[j.Name], jp+".name", j.Name, "must be unique")
		seen[j.Name] = true
		if j.Judge == nil {
			v.Add(jp+".judge", nil, "must be set")
		} else if jv, ok := j.Judge.(Validating); ok {
			jv.Validate(v, jp+".judge", "")
		}
	}
	// Score checks the options and the weights; every decision passes here.
	if _, err := judge.Score(s.outcomes(), s.options()); err != nil {
		addConfigError(v, p, renameMetrics(err))
	}
}

// renameMetrics makes judge.Score's "metrics[i]" fields "judges[i]" and its
// option fields "options.x".
func renameMetrics(err error) error {
	ce, ok := err.(*judge.ConfigError)
	if !ok {
		return err
	}
	c := *ce
	if strings.HasPrefix(c.Field, "metrics[") {
		c.Field = "judges" + strings.TrimPrefix(c.Field, "metrics")
	} else {
		c.Field = "options." + c.Field
	}
	return &c
}

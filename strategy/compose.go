package strategy

import (
	"context"
	"fmt"
	"strings"
)

// Sequence runs strategies one after another with the same release and
// stops at the first that does not succeed. Its Result holds each
// strategy's Result in Children; its phase is the last one's.
func Sequence(steps ...Strategy) Strategy { return &sequence{name: "sequence", steps: steps} }

// Wave is one stage of Waves: a name such as "prod-eu" and a strategy built
// with that cluster's clients.
type Wave struct {
	Name     string
	Strategy Strategy
}

// Waves ships the same release to several clusters in order (staging, then
// prod-eu, then prod-us), each through its own strategy and clients, and
// stops at the first wave that does not succeed; later waves are not
// touched.
func Waves(waves ...Wave) Strategy {
	s := &sequence{name: "waves"}
	for _, w := range waves {
		s.steps = append(s.steps, w.Strategy)
		s.labels = append(s.labels, w.Name)
	}
	return s
}

type sequence struct {
	name   string
	steps  []Strategy
	labels []string
}

func (s *sequence) Name() string {
	names := make([]string, len(s.steps))
	for i, st := range s.steps {
		names[i] = s.label(i, st)
	}
	return s.name + "(" + strings.Join(names, ",") + ")"
}

func (s *sequence) label(i int, st Strategy) string {
	if i < len(s.labels) && s.labels[i] != "" {
		return s.labels[i]
	}
	return st.Name()
}

func (s *sequence) validate() error {
	var v Validator
	v.Check(len(s.steps) > 0, s.name, nil, "needs at least one strategy")
	for i, st := range s.steps {
		v.Check(st != nil, fmt.Sprintf("%s[%d]", s.name, i), nil, "must not be nil")
	}
	return v.Err()
}

// Plan concatenates the plans of every strategy, each step named after its
// stage.
func (s *sequence) Plan(ctx context.Context, r Release) (*Plan, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	out := &Plan{Strategy: s.Name(), App: r.App, Revision: r.Revision}
	for i, st := range s.steps {
		p, err := st.Plan(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("planning %s: %w", s.label(i, st), err)
		}
		if i == 0 {
			out.Current = p.Current
		}
		for _, step := range p.Steps {
			step.Name = s.label(i, st) + "/" + step.Name
			out.Steps = append(out.Steps, step)
		}
	}
	return out, nil
}

// Run runs each strategy in turn. Composition keeps no progress of its
// own: every stage is itself resumable, so a Run of the whole sequence
// after a crash runs each stage again, and finished stages return their
// recorded results at the cost of one read each. The Result takes the
// phase, reason and message of the last stage that ran and names it in
// Stage when it did not succeed, so that Result.Err matches that stage's
// cause (ErrAnalysisFailed, ErrProgressDeadline, ...).
func (s *sequence) Run(ctx context.Context, r Release) (*Result, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	out := &Result{Strategy: s.Name(), App: r.App, Revision: r.Revision, Phase: PhasePending}
	for i, st := range s.steps {
		res, err := st.Run(ctx, r)
		if res != nil {
			out.Children = append(out.Children, res)
			out.Phase, out.Reason, out.Stable, out.Message = res.Phase, res.Reason, res.Stable, res.Message
			if out.Started.IsZero() {
				out.Started = res.Started
			}
			out.Finished = res.Finished
		}
		if res != nil && res.Phase != PhaseSucceeded {
			out.Stage = s.label(i, st)
			out.Message = fmt.Sprintf("%s ended %s: %s; later stages not started", out.Stage, res.Phase, res.Message)
		}
		if err != nil {
			if out.Stage == "" {
				out.Stage = s.label(i, st)
			}
			return out, fmt.Errorf("%s: %w", s.label(i, st), err)
		}
		if res.Phase != PhaseSucceeded {
			return out, nil
		}
	}
	return out, nil
}

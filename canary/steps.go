package canary

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	utilvalidation "k8s.io/apimachinery/pkg/util/validation"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// Step is one step of a canary release. The built-in steps are the types
// of this file; Custom runs any Go code as a step.
type Step interface {
	// describe says in a few words what the step does, for plans and
	// events.
	describe() string
}

// SetWeight sends Percent of the traffic to the canary.
type SetWeight struct {
	Percent int32
	// Decrease allows a weight lower than the one before, for schedules
	// that step back on purpose (say, to re-test at low traffic).
	Decrease bool
}

// Pause holds the release: for Duration, or, when Duration is zero, until
// Control.Promote.
type Pause struct {
	Duration time.Duration
}

// Analysis runs checks against the canary; a failure aborts the release.
type Analysis struct {
	Checks []strategy.Check
}

// SetCanaryScale sizes the canary slot independently of the traffic
// weight: Replicas pods, Percent of the workload's replicas, or, with
// MatchTrafficWeight, back to following the weight. Exactly one is set.
type SetCanaryScale struct {
	Replicas           *int32
	Percent            *int32
	MatchTrafficWeight bool
}

// SetHeaderRoute sends requests whose headers match to the canary, whatever
// the weight; an empty Match removes the header routes. The router must
// support header routes.
type SetHeaderRoute struct {
	Name  string
	Match []traffic.HeaderMatch
}

// SetMirrorRoute copies Percent of the requests to the canary, whose
// answers are dropped; Percent 0 removes the mirror. The router must
// support mirrors.
type SetMirrorRoute struct {
	Name    string
	Percent int32
}

// Custom is a step of the caller's own: Run is called once per release
// when the step is reached, again after a crash, so it must be idempotent.
type Custom struct {
	Name string
	Run  func(ctx context.Context, in strategy.CheckInput) error
}

func (s SetWeight) describe() string {
	return fmt.Sprintf("send %d%% of traffic to the canary", s.Percent)
}

func (s Pause) describe() string {
	if s.Duration == 0 {
		return "pause until Promote"
	}
	return "pause for " + s.Duration.String()
}

func (s Analysis) describe() string { return fmt.Sprintf("run %d checks", len(s.Checks)) }

func (s SetCanaryScale) describe() string {
	switch {
	case s.Replicas != nil:
		return fmt.Sprintf("scale the canary to %d pods", *s.Replicas)
	case s.Percent != nil:
		return fmt.Sprintf("scale the canary to %d%% of the replicas", *s.Percent)
	}
	return "scale the canary with the traffic weight"
}

func (s SetHeaderRoute) describe() string {
	if len(s.Match) == 0 {
		return "remove header routes"
	}
	return fmt.Sprintf("route requests matching %d headers to the canary", len(s.Match))
}

func (s SetMirrorRoute) describe() string {
	if s.Percent == 0 {
		return "remove the mirror"
	}
	return fmt.Sprintf("mirror %d%% of requests to the canary", s.Percent)
}

func (s Custom) describe() string { return "run " + s.Name }

// Steps is a schedule of weights and nothing else, such as
// Steps(2, 25, 75, 100).
func Steps(weights ...int32) []Step {
	out := make([]Step, len(weights))
	for i, w := range weights {
		out[i] = SetWeight{Percent: w}
	}
	return out
}

// Linear raises the weight by percent every interval until it reaches 100,
// as AWS CodeDeploy's LinearXPercentEveryYMinutes does.
func Linear(percent int32, every time.Duration) []Step {
	if percent <= 0 {
		return nil
	}
	var out []Step
	for w := percent; ; w += percent {
		if w >= 100 {
			return append(out, SetWeight{Percent: 100})
		}
		out = append(out, SetWeight{Percent: w}, Pause{Duration: every})
	}
}

// TwoStep sends percent of the traffic to the canary for hold, then all
// of it, as AWS CodeDeploy's CanaryXPercentYMinutes does.
func TwoStep(percent int32, hold time.Duration) []Step {
	return []Step{SetWeight{Percent: percent}, Pause{Duration: hold}, SetWeight{Percent: 100}}
}

// Canary10Percent5Minutes is the schedule AWS CodeDeploy names so: 10%
// for five minutes, then all of it. Each call returns a new slice.
func Canary10Percent5Minutes() []Step { return TwoStep(10, 5*time.Minute) }

// Linear10PercentEvery1Minute is AWS CodeDeploy's linear schedule: 10%
// more every minute.
func Linear10PercentEvery1Minute() []Step { return Linear(10, time.Minute) }

// AllAtOnce sends all the traffic to the new revision in one step.
func AllAtOnce() []Step { return Steps(100) }

// validateSteps checks a schedule before any write: at least one step,
// weights in 0..100 that do not go down unless marked, non-negative pauses,
// exactly one size per SetCanaryScale (at most strategy.MaxReplicas), and
// header and mirror steps only where the router supports them, with the
// arguments the router would check when the step runs (names that are
// DNS-1123 labels, valid header names, regular expressions that compile,
// mirror percents in 0..100), and the router's own limits (ingress-nginx
// matches one header).
func validateSteps(v *strategy.Validator, steps []Step, headers, mirror bool, router traffic.Router) {
	if len(steps) == 0 {
		v.Add("spec.steps", nil, "must have at least one step")
		return
	}
	last := int32(0)
	for i, s := range steps {
		p := fmt.Sprintf("spec.steps[%d]", i)
		switch s := s.(type) {
		case SetWeight:
			switch {
			case s.Percent < 0 || s.Percent > 100:
				v.Add(p+".setWeight.percent", s.Percent, "must be within 0..100")
			case s.Percent < last && !s.Decrease:
				v.Add(p+".setWeight.percent", s.Percent, "goes down from %d; set Decrease if that is meant", last)
			default:
				last = s.Percent
			}
		case Pause:
			v.Check(s.Duration >= 0, p+".pause.duration", s.Duration, "must not be negative")
		case Analysis:
			v.Check(len(s.Checks) > 0, p+".analysis.checks", nil, "must not be empty")
			flow.ValidateChecks(v, p+".analysis.checks", s.Checks)
		case SetCanaryScale:
			set := 0
			if s.Replicas != nil {
				set++
				v.Check(*s.Replicas >= 0 && *s.Replicas <= strategy.MaxReplicas, p+".setCanaryScale.replicas", *s.Replicas,
					"must be within 0..%d", strategy.MaxReplicas)
			}
			if s.Percent != nil {
				set++
				v.Check(*s.Percent >= 0 && *s.Percent <= 100, p+".setCanaryScale.percent", *s.Percent, "must be within 0..100")
			}
			if s.MatchTrafficWeight {
				set++
			}
			v.Check(set == 1, p+".setCanaryScale", nil, "needs exactly one of replicas, percent and matchTrafficWeight")
		case SetHeaderRoute:
			v.Check(headers, p+".setHeaderRoute", nil, "the router does not support header routes")
			switch {
			case s.Name == "":
				v.Add(p+".setHeaderRoute.name", nil, "must not be empty")
			case len(s.Match) == 0: // removes the header routes: only the name is used
				for _, msg := range utilvalidation.IsDNS1123Label(s.Name) {
					v.Add(p+".setHeaderRoute.name", s.Name, "%s", msg)
				}
			default:
				mergeUnder(v, p+".setHeaderRoute", "headerRoute.", traffic.ValidateHeaderRoute(router, s.Name, s.Match))
			}
		case SetMirrorRoute:
			v.Check(mirror, p+".setMirrorRoute", nil, "the router does not support mirrors")
			if s.Name == "" {
				v.Add(p+".setMirrorRoute.name", nil, "must not be empty")
				v.Check(s.Percent >= 0 && s.Percent <= 100, p+".setMirrorRoute.percent", s.Percent, "must be within 0..100")
			} else {
				mergeUnder(v, p+".setMirrorRoute", "mirror.", traffic.ValidateMirror(s.Name, s.Percent))
			}
		case Custom:
			v.Check(s.Name != "", p+".custom.name", nil, "must not be empty")
			v.Check(s.Run != nil, p+".custom.run", nil, "must be set")
		case nil:
			v.Add(p, nil, "must not be nil")
		default:
			v.Add(p, fmt.Sprintf("%T", s), "is not a step of this package")
		}
	}
}

// mergeUnder adds the fields of err, a *strategy.ValidationError of the
// traffic package, at path with their prefix replaced; another error is
// added at path.
func mergeUnder(v *strategy.Validator, path, prefix string, err error) {
	var ve *strategy.ValidationError
	switch {
	case err == nil:
	case errors.As(err, &ve):
		for _, f := range ve.Fields {
			v.Add(path+"."+strings.TrimPrefix(f.Path, prefix), f.Value, "%s", f.Message)
		}
	default:
		v.Add(path, nil, "%v", err)
	}
}

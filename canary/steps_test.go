package canary_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

func TestSchedules(t *testing.T) {
	w := func(p int32) canary.Step { return canary.SetWeight{Percent: p} }
	pause := func(d time.Duration) canary.Step { return canary.Pause{Duration: d} }
	cases := map[string]struct {
		got, want []canary.Step
	}{
		"steps":       {canary.Steps(2, 25, 75, 100), []canary.Step{w(2), w(25), w(75), w(100)}},
		"linear 30":   {canary.Linear(30, time.Minute), []canary.Step{w(30), pause(time.Minute), w(60), pause(time.Minute), w(90), pause(time.Minute), w(100)}},
		"linear 50":   {canary.Linear(50, time.Minute), []canary.Step{w(50), pause(time.Minute), w(100)}},
		"two step":    {canary.TwoStep(10, 5*time.Minute), []canary.Step{w(10), pause(5 * time.Minute), w(100)}},
		"codedeploy":  {canary.Canary10Percent5Minutes(), canary.TwoStep(10, 5*time.Minute)},
		"all at once": {canary.AllAtOnce(), []canary.Step{w(100)}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assert.Empty(t, cmp.Diff(tc.want, tc.got))
		})
	}
	assert.Len(t, canary.Linear10PercentEvery1Minute(), 19, "ten weights and nine pauses")
	assert.Nil(t, canary.Linear(0, time.Minute))
}

func TestValidateSteps(t *testing.T) {
	check := strategy.Check{Name: "ok", Func: func(context.Context, strategy.CheckInput) error { return nil }}
	cases := map[string]struct {
		steps           []canary.Step
		headers, mirror bool
		paths           []string
	}{
		"fine": {steps: []canary.Step{canary.SetWeight{Percent: 5}, canary.Pause{}, canary.Analysis{Checks: []strategy.Check{check}},
			canary.SetCanaryScale{Replicas: ptr.To[int32](2)}, canary.SetHeaderRoute{Name: "beta", Match: []traffic.HeaderMatch{{Name: "x-beta", Value: "1"}}},
			canary.SetMirrorRoute{Name: "m", Percent: 10}, canary.SetWeight{Percent: 100}}, headers: true, mirror: true},
		"none":            {steps: nil, paths: []string{"spec.steps"}},
		"weight too high": {steps: canary.Steps(150), paths: []string{"spec.steps[0].setWeight.percent"}},
		"negative weight": {steps: canary.Steps(-1), paths: []string{"spec.steps[0].setWeight.percent"}},
		"going down":      {steps: canary.Steps(50, 20), paths: []string{"spec.steps[1].setWeight.percent"}},
		"down on purpose": {steps: []canary.Step{canary.SetWeight{Percent: 50}, canary.SetWeight{Percent: 20, Decrease: true}}},
		"negative pause":  {steps: []canary.Step{canary.Pause{Duration: -time.Second}}, paths: []string{"spec.steps[0].pause.duration"}},
		"empty analysis":  {steps: []canary.Step{canary.Analysis{}}, paths: []string{"spec.steps[0].analysis.checks"}},
		"two scales": {steps: []canary.Step{canary.SetCanaryScale{Replicas: ptr.To[int32](1), MatchTrafficWeight: true}},
			paths: []string{"spec.steps[0].setCanaryScale"}},
		"headers unsupported": {steps: []canary.Step{canary.SetHeaderRoute{Name: "b"}}, paths: []string{"spec.steps[0].setHeaderRoute"}},
		"mirror unsupported":  {steps: []canary.Step{canary.SetMirrorRoute{Name: "m", Percent: 5}}, paths: []string{"spec.steps[0].setMirrorRoute"}},
		"custom without run":  {steps: []canary.Step{canary.Custom{Name: "x"}}, paths: []string{"spec.steps[0].custom.run"}},
		"nil":                 {steps: []canary.Step{nil}, paths: []string{"spec.steps[0]"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var v strategy.Validator
			canary.ValidateSteps(&v, tc.steps, tc.headers, tc.mirror)
			err := v.Err()
			if len(tc.paths) == 0 {
				require.NoError(t, err)
				return
			}
			var ve *strategy.ValidationError
			require.ErrorAs(t, err, &ve)
			for _, p := range tc.paths {
				assert.True(t, ve.Has(p), "want %s in %v", p, err)
			}
		})
	}
}

func TestReplicaSplitStaysWithinOnePod(t *testing.T) {
	for _, dynamic := range []bool{true, false} {
		for _, minPerSlot := range []int32{0, 1} {
			for total := int32(1); total <= 30; total++ {
				for weight := int32(0); weight <= 100; weight++ {
					c, s := canary.ReplicaSplit(total, weight, minPerSlot, dynamic)
					name := fmt.Sprintf("total %d weight %d min %d dynamic %v: canary %d stable %d", total, weight, minPerSlot, dynamic, c, s)
					served := canary.ServedShare(c, s)
					switch weight {
					case 0:
						require.Equal(t, int32(0), c, name)
						require.Equal(t, total, s, name)
					case 100:
						require.Equal(t, total, c, name)
						require.Equal(t, int32(0), s, name)
					default:
						require.GreaterOrEqual(t, c, int32(1), "a non-zero weight never means zero canary pods: %s", name)
						require.GreaterOrEqual(t, s, int32(1), "stable keeps a pod below 100%%: %s", name)
						onePod := 100 / float64(c+s)
						require.Less(t, math.Abs(served-float64(weight)), onePod, name)
						if !dynamic {
							require.Equal(t, total, s, name)
							require.GreaterOrEqual(t, served, float64(weight), "on top of the full stable slot, the canary reaches the weight: %s", name)
						}
					}
				}
			}
		}
	}
	c, s := canary.ReplicaSplit(4, 10, 2, true)
	assert.Equal(t, []int32{2, 2}, []int32{c, s}, "minPerSlot holds both slots up")
}

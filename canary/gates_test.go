package canary_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/strategy"
)

type gateLog struct {
	mu   sync.Mutex
	seen []strategy.Moment
	fail int // fail the n-th call (1-based); 0 never
}

func (g *gateLog) check() []strategy.Check {
	return []strategy.Check{{Name: "gate", Func: func(_ context.Context, in strategy.CheckInput) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.seen = append(g.seen, in.Moment)
		if len(g.seen) == g.fail {
			return errors.New("not now")
		}
		return nil
	}}}
}

func (g *gateLog) gates() strategy.Gates {
	c := g.check()
	return strategy.Gates{BeforeRelease: c, BeforeStep: c, BeforePromotion: c, AfterPromotion: c, OnRollback: c}
}

func TestGatesGuardEveryTrafficStep(t *testing.T) {
	e := newEnv(t, routingNamed("ReplicaRatio"))
	spec := e.spec(canary.SetWeight{Percent: 20}, canary.Pause{}, canary.SetWeight{Percent: 60})
	e.install(spec)
	g := &gateLog{}
	spec.Gates = g.gates()
	done := make(chan error, 1)
	go func() { _, err := e.strategy(spec, "driver").Run(testCtx(t), release("v2")); done <- err }()
	waitPhase(t, e.c, strategy.PhasePaused)
	require.NoError(t, strategy.NewControl(e.cl.Kube, strategy.WithClock(e.c.Clock())).Promote(testCtx(t), app))
	require.NoError(t, <-done)
	assert.Equal(t, []strategy.Moment{strategy.BeforeRelease, strategy.BeforeStep, strategy.BeforeStep,
		strategy.BeforePromotion, strategy.AfterPromotion}, g.seen, "one BeforeStep per SetWeight, none for the pause")
}

func TestAGateRefusingATrafficStepRollsBack(t *testing.T) {
	e := newEnv(t, routingNamed("ReplicaRatio"))
	spec := e.spec(canary.SetWeight{Percent: 20}, canary.SetWeight{Percent: 60})
	e.install(spec)
	g := &gateLog{fail: 3} // before-release, 20%, then refuse 60%
	spec.Gates = g.gates()
	res, err := e.strategy(spec, "driver").Run(testCtx(t), release("v2"))
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
	assert.Contains(t, res.Message, "not now")
	assert.Equal(t, "v1", res.Stable)
	assert.Equal(t, []strategy.Moment{strategy.BeforeRelease, strategy.BeforeStep, strategy.BeforeStep,
		strategy.OnRollback}, g.seen)
}

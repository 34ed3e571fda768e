package bluegreen_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/strategy"
)

// moments records the moments gates ran at, with the Service they saw.
type moments struct {
	mu   sync.Mutex
	seen []string
	fail strategy.Moment
}

func (m *moments) gate(name string) []strategy.Check {
	return []strategy.Check{{Name: name, Func: func(_ context.Context, in strategy.CheckInput) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.seen = append(m.seen, string(in.Moment)+"@"+in.Service)
		if in.Moment == m.fail {
			return errors.New("refused by " + name)
		}
		return nil
	}}}
}

func (m *moments) gates() strategy.Gates {
	return strategy.Gates{BeforeRelease: m.gate("before-release"), BeforeStep: m.gate("before-step"),
		BeforePromotion: m.gate("before-promotion"), AfterPromotion: m.gate("after-promotion"),
		OnRollback: m.gate("on-rollback")}
}

func TestGatesRunAtEveryMoment(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	m := &moments{}
	spec := baseSpec()
	spec.Gates = m.gates()
	_, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v1"))
	require.NoError(t, err)
	m.seen = nil
	res, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v2"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	assert.Equal(t, []string{"BeforeRelease@web-preview", "BeforePromotion@web-preview", "BeforeStep@web-preview",
		"AfterPromotion@web"}, m.seen, "each moment once, in order; after the switch the gate sees the active Service")
}

func TestAFailingGateAbortsAndOnRollbackHearsIt(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	m := &moments{}
	spec := baseSpec()
	_, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v1"))
	require.NoError(t, err)
	m.fail = strategy.AfterPromotion
	spec.Gates = m.gates()
	res, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v2"))
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
	assert.Contains(t, res.Message, "refused by after-promotion")
	assert.Equal(t, "v1", res.Stable)
	assert.Equal(t, "blue", observe(t, c).Active, "traffic went back to v1")
	require.NotEmpty(t, m.seen)
	assert.Equal(t, "OnRollback@web-preview", m.seen[len(m.seen)-1], "the rollback gate ran once traffic was back, and sees the aborted pods")
}

func TestGatesAreValidated(t *testing.T) {
	spec := baseSpec()
	spec.Gates.BeforeStep = []strategy.Check{{Name: "no-func"}}
	_, err := newStrategy(newCluster(t), spec, "driver-a").Run(testCtx(t), release("v1"))
	var verr *strategy.ValidationError
	require.ErrorAs(t, err, &verr)
	assert.True(t, verr.Has("spec.gates.beforeStep[0].func"), err.Error())
}

package strategy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/strategy"
)

// scripted is a Strategy that ends in a fixed phase and counts its runs.
type scripted struct {
	name  string
	phase strategy.Phase
	err   error
	runs  int
}

func (s *scripted) Name() string { return s.name }

func (s *scripted) Plan(_ context.Context, r strategy.Release) (*strategy.Plan, error) {
	return &strategy.Plan{Strategy: s.name, Steps: []strategy.PlannedStep{{Name: "only"}}}, nil
}

func (s *scripted) Run(_ context.Context, r strategy.Release) (*strategy.Result, error) {
	s.runs++
	return &strategy.Result{Strategy: s.name, App: r.App, Revision: r.Revision, Phase: s.phase, Message: s.name}, s.err
}

func TestWavesStopAtFirstFailure(t *testing.T) {
	staging := &scripted{name: "rolling", phase: strategy.PhaseSucceeded}
	eu := &scripted{name: "rolling", phase: strategy.PhaseAborted}
	us := &scripted{name: "rolling", phase: strategy.PhaseSucceeded}
	w := strategy.Waves(
		strategy.Wave{Name: "staging", Strategy: staging},
		strategy.Wave{Name: "prod-eu", Strategy: eu},
		strategy.Wave{Name: "prod-us", Strategy: us},
	)
	assert.Equal(t, "waves(staging,prod-eu,prod-us)", w.Name())
	res, err := w.Run(context.Background(), strategy.Release{App: app, Revision: "v2"})
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseAborted, res.Phase)
	assert.Contains(t, res.Message, "prod-eu ended Aborted")
	require.Len(t, res.Children, 2)
	assert.Equal(t, []int{1, 1, 0}, []int{staging.runs, eu.runs, us.runs}, "prod-us is never touched")

	p, err := w.Plan(context.Background(), strategy.Release{App: app, Revision: "v2"})
	require.NoError(t, err)
	require.Len(t, p.Steps, 3)
	assert.Equal(t, "prod-eu/only", p.Steps[1].Name)
}

func TestSequenceRunsInOrderAndReportsErrors(t *testing.T) {
	boom := errors.New("boom")
	a := &scripted{name: "a", phase: strategy.PhaseSucceeded}
	b := &scripted{name: "b", phase: strategy.PhaseFailed, err: boom}
	c := &scripted{name: "c", phase: strategy.PhaseSucceeded}
	res, err := strategy.Sequence(a, b, c).Run(context.Background(), strategy.Release{App: app, Revision: "v1"})
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "b: boom")
	require.Len(t, res.Children, 2)
	assert.Zero(t, c.runs)

	ok, err := strategy.Sequence(a, c).Run(context.Background(), strategy.Release{App: app, Revision: "v1"})
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, ok.Phase)

	_, err = strategy.Sequence().Run(context.Background(), strategy.Release{})
	require.ErrorIs(t, err, strategy.ErrInvalid)
}

// failing ends its release as a real strategy does: a Result with a reason
// and the matching error.
type failing struct{ reason strategy.Reason }

func (f failing) Name() string { return "failing" }
func (f failing) Plan(context.Context, strategy.Release) (*strategy.Plan, error) {
	return &strategy.Plan{}, nil
}
func (f failing) Run(_ context.Context, r strategy.Release) (*strategy.Result, error) {
	res := &strategy.Result{App: r.App, Revision: r.Revision, Phase: strategy.PhaseAborted, Reason: f.reason, Message: "bad"}
	return res, res.Err()
}

func TestComposedResultsKeepTheCause(t *testing.T) {
	for reason, cause := range map[strategy.Reason]error{
		strategy.ReasonAnalysisFailed:   strategy.ErrAnalysisFailed,
		strategy.ReasonProgressDeadline: strategy.ErrProgressDeadline,
	} {
		w := strategy.Waves(strategy.Wave{Name: "staging", Strategy: failing{reason}},
			strategy.Wave{Name: "prod", Strategy: &scripted{name: "ok", phase: strategy.PhaseSucceeded}})
		res, err := w.Run(context.Background(), strategy.Release{App: app, Revision: "v2"})
		require.ErrorIs(t, err, cause)
		require.NotNil(t, res)
		assert.Equal(t, reason, res.Reason)
		assert.Equal(t, "staging", res.Stage, "the result names the wave that failed")
		assert.ErrorIs(t, res.Err(), cause, "the composed result matches the child's cause")
	}
}

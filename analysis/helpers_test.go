package analysis_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/participant"
	"github.com/switchyard-dev/switchyard/strategy"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// Values that the conditions of thresholdMetric judge Successful, Failed
// and Inconclusive.
const (
	good   = 0.005
	bad    = 0.071
	unsure = 0.03
)

// step is one scripted measurement.
type step struct {
	v       float64
	samples []float64
	err     error
	noData  bool
	verdict analysis.Phase
	done    bool
}

var (
	sGood   = step{v: good}
	sBad    = step{v: bad}
	sUnsure = step{v: unsure}
	sErr    = step{err: errors.New("connection refused")}
	sEmpty  = step{noData: true}
)

// script returns a provider that plays steps in order and then repeats
// the last, and a counter of its calls.
func script(steps ...step) (analysis.Func, *atomic.Int32) {
	var n atomic.Int32
	return func(context.Context, analysis.Query) (analysis.Result, error) {
		i := int(n.Add(1)) - 1
		s := steps[min(i, len(steps)-1)]
		if s.err != nil {
			return analysis.Result{}, s.err
		}
		return analysis.Result{Value: s.v, Samples: s.samples, NoData: s.noData, Verdict: s.verdict, Done: s.done,
			Reason: "scripted"}, nil
	}, &n
}

// thresholdMetric fails above 0.05 and succeeds below 0.01.
func thresholdMetric(name string, p analysis.Provider) analysis.Metric {
	return analysis.Metric{
		Name:     name,
		Provider: p,
		Interval: time.Minute,
		Count:    3,
		Success:  analysis.Below(0.01),
		Failure:  analysis.Above(0.05),
	}
}

// events collects what a run emits.
type events struct {
	mu  sync.Mutex
	got []strategy.Event
}

func (e *events) emit(ev strategy.Event) {
	e.mu.Lock()
	e.got = append(e.got, ev)
	e.mu.Unlock()
}

func (e *events) list() []strategy.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]strategy.Event(nil), e.got...)
}

// autoClock returns a fake clock that moves to its next timer whenever the
// analysis has nothing running, as it does under a strategy's driver.
func autoClock(t testing.TB) *fake.Clock {
	clk := fake.NewClock(t0)
	clk.SetAutoAdvance(true)
	idle, _, done := clk.Track()
	idle()
	t.Cleanup(func() {
		done()
		clk.SetAutoAdvance(false)
	})
	return clk
}

func fakeClock() *fake.Clock { return fake.NewClock(t0) }

func input(clk *fake.Clock, ev *events) strategy.CheckInput {
	in := strategy.CheckInput{
		Release: strategy.Release{App: types.NamespacedName{Namespace: "shop", Name: "cart"}, Revision: "v2"},
		Stable:  "v1",
		Slot:    "cart-green",
		Service: "cart-preview",
	}
	if clk != nil {
		in.Clock = clk
	}
	if ev != nil {
		in.Emit = ev.emit
	}
	return in
}

// run runs a on an auto-advancing fake clock.
// autoInput is input on an auto-advancing clock, with the check counted as
// a participant the way a driver runs it: busy while it runs, waiting while
// it waits for its timers or through CheckInput.Idle.
func autoInput(t testing.TB, ev *events) strategy.CheckInput {
	g := participant.Go(autoClock(t))
	t.Cleanup(g.Done)
	in := input(nil, ev)
	in.Clock, in.Idle = g, g.Idle
	return in
}

func run(t testing.TB, ctx context.Context, a analysis.Analysis) (*analysis.Report, []strategy.Event, error) {
	t.Helper()
	var ev events
	rep, err := a.Run(ctx, autoInput(t, &ev))
	return rep, ev.list(), err
}

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// moment is a point of a release, closed once when the release reaches it.
type moment struct {
	once sync.Once
	ch   chan struct{}
}

func newMoment() *moment { return &moment{ch: make(chan struct{})} }

func (m *moment) reach() { m.once.Do(func() { close(m.ch) }) }

// wait waits until the release reaches the moment, or fails the test when
// the release returned first.
func (e *env) wait(m *moment, what string, done <-chan outcome) {
	e.t.Helper()
	select {
	case <-m.ch:
	case o := <-done:
		e.t.Fatalf("the release ended (%v, %v) before %s", o.Res, o.Err, what)
	case <-e.ctx.Done():
		e.t.Fatalf("waiting for %s: %v", what, e.ctx.Err())
	}
}

// untilCancelled is a check that runs until its context ends: it marks
// started when it begins, and counts cancellations.
func untilCancelled(started *moment, cancelled *atomic.Int32) strategy.Check {
	return strategy.Check{Name: "until-cancelled", Func: func(ctx context.Context, _ strategy.CheckInput) error {
		started.reach()
		<-ctx.Done()
		cancelled.Add(1)
		return ctx.Err()
	}}
}

// TestControlFromAnotherProcess aborts a release of v2 from another
// process (the test binary run again, building its own clients from a
// kubeconfig) at four moments: before the switch, while it waits for the
// new slot's pods (which never get a node) and while a pre-promotion check
// runs; after it, while a post-promotion check runs and while the old slot
// waits out its scale-down delay, with no rollback window. Each time the
// running driver hears the request through its watch: the release ends
// Aborted, the active Service selects v1's slot again, v1's
// slot kept its three pods (its Deployment was never changed), an
// independent watch of the Service's EndpointSlices never saw fewer than
// three ready endpoints, and no request is left pending.
func TestControlFromAnotherProcess(t *testing.T) {
	cases := []struct {
		name string
		// spec returns the spec of v2 and the moment to abort at.
		spec func(cancelled *atomic.Int32) (bluegreen.Spec, *moment, strategy.Option)
		// checked is whether the abort cancels a running check.
		checked bool
		// unschedulable keeps v2's pods Pending: a node selector no Node
		// matches.
		unschedulable bool
	}{{
		name: "preview-available",
		spec: func(*atomic.Int32) (bluegreen.Spec, *moment, strategy.Option) {
			m, spec := newMoment(), baseSpec()
			obs := strategy.WithObserver(func(ev strategy.Event) {
				if ev.Type == strategy.EventWaiting && strings.HasPrefix(ev.Message, "waiting for 3 available pods of v2") {
					m.reach()
				}
			})
			return spec, m, obs
		},
		unschedulable: true,
	}, {
		name: "pre-promotion check",
		spec: func(cancelled *atomic.Int32) (bluegreen.Spec, *moment, strategy.Option) {
			m, spec := newMoment(), baseSpec()
			spec.PrePromotion = []strategy.Check{untilCancelled(m, cancelled)}
			return spec, m, nil
		},
		checked: true,
	}, {
		name: "post-promotion check",
		spec: func(cancelled *atomic.Int32) (bluegreen.Spec, *moment, strategy.Option) {
			m, spec := newMoment(), baseSpec()
			spec.PostPromotion = []strategy.Check{untilCancelled(m, cancelled)}
			return spec, m, nil
		},
		checked: true,
	}, {
		name: "scale-down delay",
		spec: func(*atomic.Int32) (bluegreen.Spec, *moment, strategy.Option) {
			m, spec := newMoment(), baseSpec()
			spec.RollbackWindow = ptr.To(0)
			spec.ScaleDownDelay = ptr.To(time.Minute) // the abort must come inside it
			obs := strategy.WithObserver(func(ev strategy.Event) {
				if ev.Type == strategy.EventWaiting && strings.Contains(ev.Message, "old pods keep running") {
					m.reach()
				}
			})
			return spec, m, obs
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			kc := e.kubeconfig()
			e.run(e.strategy(baseSpec()), "v1")
			e.servesOnly(bluegreen.Blue)
			blueGen := e.slotGeneration(bluegreen.Blue)

			var cancelled atomic.Int32
			spec, at, obs := tc.spec(&cancelled)
			// When the driver sent traffic back, as its observer saw it.
			var backMu sync.Mutex
			var back time.Time
			opts := []strategy.Option{strategy.WithObserver(func(ev strategy.Event) {
				if ev.Type == strategy.EventTraffic && strings.Contains(ev.Message, "back on slot") {
					backMu.Lock()
					back = ev.Time
					backMu.Unlock()
				}
			})}
			if obs != nil {
				opts = append(opts, obs)
			}
			p := e.eps.Begin()
			start := time.Now()
			rel := e.release("v2")
			if tc.unschedulable {
				rel.Workload.Spec.Template.Spec.NodeSelector = map[string]string{"switchyard.dev/no-such-node": "true"}
			}
			done := e2ekit.Start(e.ctx, e.strategy(spec, opts...), rel)
			e.wait(at, tc.name, done)
			reached := time.Now()
			o := e.controlFromProcess(kc, strategy.ActionAbort, "")
			require.Empty(t, o.Err, "the abort is accepted")
			sent := time.Now()

			res := e.await(done)
			require.ErrorIs(t, res.Err, strategy.ErrAborted)
			require.NotNil(t, res.Res)
			assert.Equal(t, strategy.PhaseAborted, res.Res.Phase)
			assert.Equal(t, strategy.ReasonRequested, res.Res.Reason)
			assert.Contains(t, res.Res.Message, "aborted by operator-process")
			assert.Equal(t, "v1", res.Res.Stable)
			if tc.checked {
				assert.EqualValues(t, 1, cancelled.Load(), "the running check was cancelled")
			}
			backMu.Lock()
			backAfter := "(the Service never left it)"
			if !back.IsZero() {
				backAfter = fmt.Sprintf("%s after it exited", back.Sub(sent).Round(time.Millisecond))
			}
			backMu.Unlock()
			t.Logf("%s reached %s after Run began; the abort process took %s (request written in %s); traffic back on v1's slot %s; "+
				"Run returned %s after it exited (AbortScaleDownDelay 1s)", tc.name, reached.Sub(start).Round(time.Millisecond),
				sent.Sub(reached).Round(time.Millisecond), o.Took.Round(time.Millisecond), backAfter, time.Since(sent).Round(time.Millisecond))

			e.servesOnly(bluegreen.Blue)
			got := e.observe()
			low := p.Check(t, "abort of v2 from another process at "+tc.name, replicas)
			t.Logf("abort at %s: minimum ready endpoints %d", tc.name, low)
			assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 0, 0, 0}, Active: "blue", Preview: "green",
				Phase: strategy.PhaseAborted, Revision: "v2", Stable: "v1"}, got)
			active, _ := e.selectors()
			assert.Equal(t, slotSelector(bluegreen.Blue), active, "the active Service selects v1's slot")
			assert.Equal(t, blueGen, e.slotGeneration(bluegreen.Blue), "v1's slot was never scaled down or changed")
			e.recordSettled()
		})
	}
}

// TestUndoFromAnotherProcess sends Undo from other processes while v2's
// post-promotion check runs, after the switch: Undo to a revision that is
// not in the history is refused; Undo to v1 puts traffic back on v1 at
// once, and the Run of v2 says it was superseded.
func TestUndoFromAnotherProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	kc := e.kubeconfig()
	e.run(e.strategy(baseSpec()), "v1")
	e.servesOnly(bluegreen.Blue)
	blueGen := e.slotGeneration(bluegreen.Blue)

	var cancelled atomic.Int32
	at := newMoment()
	spec := baseSpec()
	spec.PostPromotion = []strategy.Check{untilCancelled(at, &cancelled)}
	p := e.eps.Begin()
	done := e.start(e.strategy(spec), "v2")
	e.wait(at, "the post-promotion check", done)
	e.servesOnly(bluegreen.Green)

	o := e.controlFromProcess(kc, strategy.ActionUndo, "v0")
	assert.True(t, o.Is(strategy.ErrUnknownRevision), "undo to a revision never released is refused: %s", o.Err)
	o = e.controlFromProcess(kc, strategy.ActionUndo, "v1")
	require.Empty(t, o.Err, "the undo is accepted")

	res := e.await(done)
	require.ErrorIs(t, res.Err, strategy.ErrSuperseded)
	require.NotNil(t, res.Res)
	assert.Equal(t, strategy.PhaseAborted, res.Res.Phase)
	assert.Equal(t, strategy.ReasonSuperseded, res.Res.Reason)
	assert.Contains(t, res.Res.Message, "undone to v1")
	assert.Equal(t, "v1", res.Res.Stable)
	assert.EqualValues(t, 1, cancelled.Load(), "the running check was cancelled")

	e.servesOnly(bluegreen.Blue)
	got := e.observe()
	low := p.Check(t, "undo of v2 to v1 from another process", replicas)
	t.Logf("undo during the post-promotion check: minimum ready endpoints %d", low)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 0, 0, 0}, Active: "blue", Preview: "green",
		Phase: strategy.PhaseAborted, Revision: "v2", Stable: "v1"}, got)
	active, _ := e.selectors()
	assert.Equal(t, slotSelector(bluegreen.Blue), active, "v1 serves again")
	assert.Equal(t, blueGen, e.slotGeneration(bluegreen.Blue), "v1's slot was never changed")
	e.recordSettled()
}

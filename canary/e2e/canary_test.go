package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
)

// checkWeight checks, while the release holds at percent, that the
// traffic is split so: the router's objects carry the weight, the canary
// Service reaches the canary's pods and the stable Service only the stable
// slot; for ReplicaRatio, that the shared Service's endpoints are split as
// ReplicaSplit says.
func (e *env) checkWeight(t *testing.T, percent int32) {
	t.Helper()
	// The test's watches may trail the strategy's by an event: wait a
	// little for them.
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	canarySize := int32((replicas*percent + 99) / 100)
	stableSize := int32(replicas)
	if e.r.router == nil {
		canarySize, stableSize = canary.ReplicaSplit(replicas, percent, 0, false)
	}
	green := slots.Name(appName, canary.Green)
	var size int32
	for ctx.Err() == nil {
		changed := e.deploys.Changed()
		if d, ok := e.deploys.Get(e.ns, green); ok {
			if size = ptr.Deref(d.Spec.Replicas, 1); size == canarySize {
				break
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
		}
	}
	assert.Equal(t, canarySize, size, "canary slot size at %d%%", percent)

	if e.r.router == nil {
		err := e.eps.WaitFor(ctx, "the split of the shared Service", func(x e2ekit.Sample) bool {
			return x.BySlot[canary.Green] == int(canarySize) && x.BySlot[canary.Blue] == int(stableSize)
		})
		assert.NoError(t, err)
		t.Logf("at %d%%: %d canary and %d stable endpoints, the canary serves %.1f%%", percent, canarySize, stableSize,
			canary.ServedShare(canarySize, stableSize))
		return
	}
	assert.Equal(t, map[string]int64{stableSvc: int64(100 - percent), canarySvc: int64(percent)}, e.r.weights(e),
		"weights read back from the router's object")
	w, err := e.r.router(e.clients, e.ns).Weight(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, percent, w)
	assert.NoError(t, e.canaryEps.WaitFor(ctx, "the canary Service on the canary's pods", func(x e2ekit.Sample) bool {
		return x.BySlot[canary.Green] == int(canarySize) && x.Ready == int(canarySize)
	}))
	last := e.eps.Since(0)
	assert.Zero(t, last[len(last)-1].BySlot[canary.Green], "the stable Service reaches no canary pod")
}

// checkAllOnStable checks that the router's objects send everything to the
// stable Service.
func (e *env) checkAllOnStable(t *testing.T) {
	t.Helper()
	if e.r.router == nil {
		return
	}
	assert.Equal(t, map[string]int64{stableSvc: 100, canarySvc: 0}, e.r.weights(e), "weights read back from the router's object")
	w, err := e.r.router(e.clients, e.ns).Weight(e.ctx)
	require.NoError(t, err)
	assert.Zero(t, w)
}

// TestFullCanary runs SetWeight 20, Pause 2s, SetWeight 50, SetWeight 100
// on every routing.
func TestFullCanary(t *testing.T) {
	for _, r := range routings {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, r)
			const pause = 2 * time.Second
			spec := e.spec(e.clients, canary.SetWeight{Percent: 20}, canary.Pause{Duration: pause},
				canary.SetWeight{Percent: 50}, canary.SetWeight{Percent: 100})
			p := e.install(spec)
			e.checkAllOnStable(t)

			var ev events
			done := e.start(e.strategy(spec, ev.observer()), "v2")
			st := e.waitStatus("the pause", func(st *strategy.Status) bool { return st.Revision == "v2" && st.Step >= 2 })
			require.True(t, strings.HasPrefix(st.StepName, "1-Pause"), "the test saw the release only at %q, after the pause", st.StepName)
			e.checkWeight(t, 20)

			o := e.await(done)
			require.NoError(t, o.Err)
			assert.Equal(t, strategy.PhaseSucceeded, o.Res.Phase)
			assert.Equal(t, "v2", o.Res.Stable)
			got := e.observe()
			e.servesOnly(canary.Green)
			p.Check(t, "full canary of v2", replicas)

			want := endState{Blue: slotState{"v1", 0, 0, 0}, Green: slotState{"v2", replicas, replicas, replicas},
				Phase: strategy.PhaseSucceeded, Revision: "v2", StableRev: "v2"}
			if r.router != nil {
				want.Stable = canary.Green // the stable Service moved to the new slot
			}
			assert.Equal(t, want, got)
			e.checkAllOnStable(t)
			assert.Equal(t, []int32{20, 50, 100}, ev.weights(), "the weights set, in order")
			// The pause counts from the record's write of its start, which
			// comes after the weight's event and before the step's.
			set := ev.of(strategy.EventTraffic, "canary weight 20%")
			started, ended := ev.step("1-Pause")
			require.Len(t, set, 1)
			require.False(t, started.IsZero() || ended.IsZero(), "the pause ran")
			assert.GreaterOrEqual(t, ended.Sub(set[0].Time), pause, "the pause lasted its duration")
			t.Logf("the pause step ran %s, %s after 20%% was set", ended.Sub(started).Round(time.Millisecond),
				ended.Sub(set[0].Time).Round(time.Millisecond))

			if r.router != nil {
				promoted, _ := ev.step("promote")
				require.False(t, promoted.IsZero())
				for _, s := range p.Samples() {
					if s.At.Before(promoted) {
						assert.Zero(t, s.BySlot[canary.Green], "the stable Service reached a canary pod before promotion: %s", s)
					}
				}
			}
		})
	}
}

// TestAbortWhilePaused aborts a release held at a Pause{} step at 20%.
func TestAbortWhilePaused(t *testing.T) {
	for _, r := range routings {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, r)
			spec := e.spec(e.clients, canary.SetWeight{Percent: 20}, canary.Pause{},
				canary.SetWeight{Percent: 50}, canary.SetWeight{Percent: 100})
			p := e.install(spec)
			greenSize := e.watchReplicas(slots.Name(appName, canary.Green))

			var ev events
			done := e.start(e.strategy(spec, ev.observer()), "v2")
			st := e.waitStatus("the release to pause", func(st *strategy.Status) bool {
				return st.Revision == "v2" && st.Phase == strategy.PhasePaused
			})
			assert.True(t, strings.HasPrefix(st.StepName, "1-Pause"), "paused at %q", st.StepName)
			e.checkWeight(t, 20)

			abortAt := time.Now()
			require.NoError(t, e.control.Abort(e.ctx, e.app))
			o := e.await(done)
			require.ErrorIs(t, o.Err, strategy.ErrAborted)
			require.NotNil(t, o.Res)
			assert.Equal(t, strategy.PhaseAborted, o.Res.Phase)
			assert.Equal(t, strategy.ReasonRequested, o.Res.Reason)
			assert.Contains(t, o.Res.Message, "aborted by operator")
			assert.Equal(t, "v1", o.Res.Stable)
			e.checkAllOnStable(t)

			got := e.observe()
			e.servesOnly(canary.Blue)
			p.Check(t, "abort of v2 while paused", replicas)
			want := endState{Blue: slotState{"v1", replicas, replicas, replicas}, Green: slotState{"v2", 0, 0, 0},
				Phase: strategy.PhaseAborted, Revision: "v2", StableRev: "v1"}
			if r.router != nil {
				want.Stable = canary.Blue
			}
			assert.Equal(t, want, got, "the stable slot keeps its full size, the canary is scaled to 0")
			assert.Equal(t, []int32{20}, ev.weights(), "no step after the pause ran")

			zero := greenSize.zeroAfter(abortAt)
			require.False(t, zero.IsZero(), "the canary slot was scaled to 0 after the abort")
			back := ev.of(strategy.EventTraffic, "all traffic back on stable")
			require.Len(t, back, 1)
			if r.router == nil {
				// Without a router the canary's pods are its traffic: they go
				// at once.
				t.Logf("canary scaled to 0 %s after Abort", zero.Sub(abortAt).Round(time.Millisecond))
				return
			}
			assert.GreaterOrEqual(t, zero.Sub(back[0].Time), abortDelay,
				"the canary is scaled down AbortScaleDownDelay after its traffic went back to stable")
			t.Logf("traffic back on stable %s after Abort, canary scaled to 0 %s after that",
				back[0].Time.Sub(abortAt).Round(time.Millisecond), zero.Sub(back[0].Time).Round(time.Millisecond))
		})
	}
}

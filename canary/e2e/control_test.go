package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
)

// helperTest is the test function a helper process runs.
const helperTest = "TestHelperProcess"

// TestHelperProcess is not a test: it is what the tests of this package
// run in another process (the test binary started again with
// -test.run=TestHelperProcess and the role in its environment), so that a
// release is controlled from outside the test's process.
func TestHelperProcess(t *testing.T) {
	role, ok := e2ekit.HelperRole()
	if !ok {
		t.Skip("runs only in a helper process started by the tests")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	switch role {
	case e2ekit.ControlRole:
		require.NoError(t, e2ekit.ServeControl(ctx))
	default:
		t.Fatalf("unknown helper role %q", role)
	}
}

// TestAbortFromAnotherProcess aborts a Gateway API canary of v2 from
// another process (the test binary run again, building its own clients
// from a kubeconfig): while it holds 20% for a one-minute pause, and after
// promotion, while the old stable slot waits out its one-minute scale-down
// delay. Each time the running driver hears the request through its watch
// at once: the release ends Aborted long before the wait would have, the
// HTTPRoute sends everything to the stable Service, which selects v1's
// slot again, v1's slot kept all five pods (its Deployment never changed),
// the canary is scaled to 0, an independent watch of the stable Service's
// EndpointSlices never saw fewer than five ready endpoints, and no request
// is left pending.
func TestAbortFromAnotherProcess(t *testing.T) {
	const wait = time.Minute
	cases := []struct {
		name  string
		steps []canary.Step
		// scaleDownDelay is the spec's. The moment to abort at is when the
		// record names step, or else when the observer at returns calls
		// reached.
		scaleDownDelay time.Duration
		step           string
		at             func(reached func()) strategy.Option
		weights        []int32
	}{{
		name:    "pause",
		steps:   []canary.Step{canary.SetWeight{Percent: 20}, canary.Pause{Duration: wait}, canary.SetWeight{Percent: 100}},
		step:    "1-Pause",
		weights: []int32{20},
	}, {
		name:           "scale-down delay",
		steps:          []canary.Step{canary.SetWeight{Percent: 50}},
		scaleDownDelay: wait,
		at: func(reached func()) strategy.Option {
			return strategy.WithObserver(func(ev strategy.Event) {
				if ev.Type == strategy.EventWaiting && strings.Contains(ev.Message, "old pods keep running") {
					reached()
				}
			})
		},
		weights: []int32{50},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, routingNamed("GatewayHTTPRoute"))
			kc := e2ekit.WriteKubeconfig(t, e.cfg)
			spec := e.spec(e.clients, tc.steps...)
			e.install(spec)
			e.checkAllOnStable(t)
			blue, err := e.kube.AppsV1().Deployments(e.ns).Get(e.ctx, slots.Name(appName, canary.Blue), metav1.GetOptions{})
			require.NoError(t, err)

			if tc.scaleDownDelay > 0 {
				spec.ScaleDownDelay = ptr.To(tc.scaleDownDelay)
			}
			var ev events
			opts := []strategy.Option{ev.observer()}
			var once sync.Once
			reached := make(chan struct{})
			if tc.at != nil {
				opts = append(opts, tc.at(func() { once.Do(func() { close(reached) }) }))
			}
			p := e.eps.Begin()
			start := time.Now()
			done := e.start(e.strategy(spec, opts...), "v2")
			if tc.step != "" {
				e.waitStatus(tc.step, func(st *strategy.Status) bool { return st.Revision == "v2" && st.StepName == tc.step })
			} else {
				select {
				case <-reached:
				case o := <-done:
					t.Fatalf("the release ended (%v, %v) before the %s", o.Res, o.Err, tc.name)
				case <-e.ctx.Done():
					t.Fatalf("waiting for the %s: %v", tc.name, e.ctx.Err())
				}
			}
			at := time.Now()
			o := e2ekit.ControlFromProcess(t, e.ctx, helperTest, kc, e2ekit.ControlRequest{
				Namespace: e.ns, App: appName, Action: strategy.ActionAbort, Identity: "operator-process"})
			require.Empty(t, o.Err, "the abort is accepted")
			sent := time.Now()

			res := e.await(done)
			require.ErrorIs(t, res.Err, strategy.ErrAborted)
			require.NotNil(t, res.Res)
			assert.Equal(t, strategy.PhaseAborted, res.Res.Phase)
			assert.Equal(t, strategy.ReasonRequested, res.Res.Reason)
			assert.Contains(t, res.Res.Message, "aborted by operator-process")
			assert.Equal(t, "v1", res.Res.Stable)
			assert.Less(t, time.Since(at), wait/2, "the abort ended the wait")
			back := ev.of(strategy.EventTraffic, "all traffic back on stable")
			require.Len(t, back, 1)
			t.Logf("%s reached %s after Run began; the abort process took %s; traffic back on stable %s after it exited",
				tc.name, at.Sub(start).Round(time.Millisecond), sent.Sub(at).Round(time.Millisecond),
				back[0].Time.Sub(sent).Round(time.Millisecond))
			e.checkAllOnStable(t)

			got := e.observe()
			e.servesOnly(canary.Blue)
			low := p.Check(t, "abort of v2 from another process at the "+tc.name, replicas)
			t.Logf("abort at the %s: minimum ready endpoints %d", tc.name, low)
			assert.Equal(t, endState{Blue: slotState{"v1", replicas, replicas, replicas}, Green: slotState{"v2", 0, 0, 0},
				Stable: canary.Blue, Phase: strategy.PhaseAborted, Revision: "v2", StableRev: "v1"}, got)
			after, err := e.kube.AppsV1().Deployments(e.ns).Get(e.ctx, slots.Name(appName, canary.Blue), metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, blue.Generation, after.Generation, "v1's slot was never scaled down or changed")
			assert.Equal(t, tc.weights, ev.weights(), "the weights set before the abort")
			st, err := e.control.Status(e.ctx, e.app)
			require.NoError(t, err)
			assert.Empty(t, st.Pending, "no request is left pending")
			assert.False(t, st.Lease.Live(time.Now()), "the lease is released")
		})
	}
}

package e2e

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// readyEndpoints counts the ready endpoints of Service svc right now.
func readyEndpoints(ctx context.Context, kube kubernetes.Interface, ns, svc string) (int, error) {
	list, err := kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			if ptr.Deref(ep.Conditions.Ready, true) {
				n++
			}
		}
	}
	return n, nil
}

// checkLog records the checks a release ran.
type checkLog struct {
	mu    sync.Mutex
	calls []strategy.CheckInput
	// previewReady is how many ready endpoints the Service a check was
	// given had when the check ran.
	previewReady []int
}

// check returns a check that records its input and the Service's ready
// endpoints, and fails with fail.
func (l *checkLog) check(name string, fail error) strategy.Check {
	return strategy.Check{Name: name, Func: func(ctx context.Context, in strategy.CheckInput) error {
		n, err := readyEndpoints(ctx, in.Clients.Kube, in.Release.App.Namespace, in.Service)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.calls = append(l.calls, in)
		l.previewReady = append(l.previewReady, n)
		return errors.Join(err, fail)
	}}
}

func (l *checkLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}

func TestRolloutV1ThenV2(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var checks checkLog
	spec := baseSpec()
	spec.PrePromotion = []strategy.Check{checks.check("preview-smoke", nil)}
	s := e.strategy(spec)

	e.run(s, "v1")
	e.servesOnly(bluegreen.Blue)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Active: "blue", Preview: "blue",
		Phase: strategy.PhaseSucceeded, Revision: "v1", Stable: "v1"}, e.observe())
	blue, err := e.kube.AppsV1().Deployments(e.app.Namespace).Get(e.ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)

	p := e.eps.Begin()
	res := e.run(s, "v2")
	e.servesOnly(bluegreen.Green)
	p.Check(t, "switch v1 -> v2", replicas)
	assert.Equal(t, "v2", res.Stable)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 3, 3, 3}, Active: "green", Preview: "green",
		Phase: strategy.PhaseSucceeded, Revision: "v2", Stable: "v2"}, e.observe(), "the rollback window keeps the old slot running")

	after, err := e.kube.AppsV1().Deployments(e.app.Namespace).Get(e.ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, blue.Generation, after.Generation, "the live slot is not touched by a release")
	for _, name := range []string{"web-blue", "web-green"} {
		d, err := e.kube.AppsV1().Deployments(e.app.Namespace).Get(e.ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, strategy.ManagedBy, d.Labels[strategy.LabelManagedBy], name)
		assert.Equal(t, map[string]string{strategy.LabelApp: appName, strategy.LabelSlot: d.Labels[strategy.LabelSlot]}, d.Spec.Selector.MatchLabels, name)
	}
	for _, name := range []string{"web", "web-preview"} {
		svc, err := e.kube.CoreV1().Services(e.app.Namespace).Get(e.ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"app": appName, strategy.LabelSlot: "green"}, svc.Spec.Selector, name)
	}

	st, err := e.control.Status(e.ctx, e.app)
	require.NoError(t, err)
	assert.Equal(t, "bluegreen", st.Strategy)
	assert.Empty(t, st.StepName, "no step runs once the release ended")
	assert.False(t, st.Lease.Live(time.Now()), "the lease is released when Run returns")
	require.Len(t, st.History, 2)
	for i, rev := range []string{"v1", "v2"} {
		assert.Equal(t, rev, st.History[i].Revision)
		assert.Equal(t, strategy.PhaseSucceeded, st.History[i].Phase)
		require.NotNil(t, st.History[i].Workload)
		assert.Equal(t, "web:"+rev, st.History[i].Workload.Spec.Template.Spec.Containers[0].Image)
	}

	require.Equal(t, 2, checks.count())
	assert.Equal(t, "web-preview", checks.calls[1].Service)
	assert.Equal(t, "web-green", checks.calls[1].Slot)
	assert.Equal(t, "v1", checks.calls[1].Stable)
	t.Logf("ready endpoints of the preview Service when the pre-promotion check ran: v1 %d, v2 %d (want %d)",
		checks.previewReady[0], checks.previewReady[1], replicas)
}

func TestRollbackWindowZeroScalesOldSlotDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	spec := baseSpec()
	spec.RollbackWindow = ptr.To(0)
	s := e.strategy(spec)
	e.run(s, "v1")
	e.servesOnly(bluegreen.Blue)

	p := e.eps.Begin()
	e.run(s, "v2")
	got := e.observe()
	p.Check(t, "switch v1 -> v2, old slot scaled down after 1s", replicas)
	e.servesOnly(bluegreen.Green)
	assert.Equal(t, endState{Blue: slotState{"v1", 0, 0, 0}, Green: slotState{"v2", 3, 3, 3}, Active: "green", Preview: "green",
		Phase: strategy.PhaseSucceeded, Revision: "v2", Stable: "v2"}, got)
}

func TestManualPromotion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	spec := baseSpec()
	spec.ManualPromotion = true
	s := e.strategy(spec)
	preview := e2ekit.WatchEndpoints(t, e.ctx, e.kube, e.app.Namespace, appName, appName+"-preview")

	// The first release pauses too; the active Service had no slot in its
	// selector before, so it may already reach the new pods.
	done := e.start(s, "v1")
	e.waitPhase(strategy.PhasePaused)
	require.NoError(t, preview.WaitFor(e.ctx, "preview on blue", func(s e2ekit.Sample) bool { return s.BySlot[bluegreen.Blue] == replicas }))
	t.Logf("first release paused before Promote: active Service endpoints %s", e.eps.Since(e.eps.Mark())[0])
	require.NoError(t, e.control.Promote(e.ctx, e.app))
	require.NoError(t, e.await(done).Err)
	e.servesOnly(bluegreen.Blue)

	p := e.eps.Begin()
	done = e.start(s, "v2")
	e.waitPhase(strategy.PhasePaused)
	require.NoError(t, preview.WaitFor(e.ctx, "preview on green", func(s e2ekit.Sample) bool {
		return s.Ready == replicas && s.BySlot[bluegreen.Green] == replicas
	}), "the preview Service reaches the new slot while paused")
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 3, 3, 3}, Active: "blue", Preview: "green",
		Phase: strategy.PhasePaused, Revision: "v2", Stable: "v1"}, e.observe(), "paused: traffic stays on the live slot, the preview reaches the new one")
	e.servesOnly(bluegreen.Blue)
	assert.Zero(t, p.Samples()[len(p.Samples())-1].BySlot[bluegreen.Green], "no new pod takes traffic before Promote")

	require.NoError(t, e.control.Promote(e.ctx, e.app))
	o := e.await(done)
	require.NoError(t, o.Err)
	assert.Equal(t, strategy.PhaseSucceeded, o.Res.Phase)
	e.servesOnly(bluegreen.Green)
	p.Check(t, "manual promotion v1 -> v2", replicas)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 3, 3, 3}, Active: "green", Preview: "green",
		Phase: strategy.PhaseSucceeded, Revision: "v2", Stable: "v2"}, e.observe())
}

func TestAbortByRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	spec := baseSpec()
	e.run(e.strategy(spec), "v1")
	e.servesOnly(bluegreen.Blue)

	spec.ManualPromotion = true
	p := e.eps.Begin()
	done := e.start(e.strategy(spec), "v2")
	e.waitPhase(strategy.PhasePaused)
	require.NoError(t, e.control.Abort(e.ctx, e.app))
	o := e.await(done)
	require.ErrorIs(t, o.Err, strategy.ErrAborted)
	require.NotNil(t, o.Res)
	assert.Equal(t, strategy.PhaseAborted, o.Res.Phase)
	assert.Equal(t, strategy.ReasonRequested, o.Res.Reason)
	assert.Contains(t, o.Res.Message, "aborted by operator")
	assert.Equal(t, "v1", o.Res.Stable)
	got := e.observe()
	p.Check(t, "abort of v2 while paused", replicas)
	e.servesOnly(bluegreen.Blue)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 0, 0, 0}, Active: "blue", Preview: "green",
		Phase: strategy.PhaseAborted, Revision: "v2", Stable: "v1"}, got)
}

func TestFailedPrePromotionCheckAborts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(e.strategy(baseSpec()), "v1")
	e.servesOnly(bluegreen.Blue)

	var checks checkLog
	spec := baseSpec()
	spec.PrePromotion = []strategy.Check{checks.check("smoke", errors.New("GET /healthz returned 500"))}
	p := e.eps.Begin()
	res, err := e.strategy(spec).Run(e.ctx, e.release("v2"))
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
	require.NotNil(t, res)
	assert.Equal(t, strategy.PhaseAborted, res.Phase)
	assert.Contains(t, res.Message, "check smoke failed: GET /healthz returned 500")
	got := e.observe()
	p.Check(t, "failed pre-promotion check of v2", replicas)
	e.servesOnly(bluegreen.Blue)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 0, 0, 0}, Active: "blue", Preview: "green",
		Phase: strategy.PhaseAborted, Revision: "v2", Stable: "v1"}, got)
	require.Equal(t, 1, checks.count())
	assert.Equal(t, "web-preview", checks.calls[0].Service)
	assert.Equal(t, "web-green", checks.calls[0].Slot)
	t.Logf("ready endpoints of the preview Service when the check ran: %d (want %d)", checks.previewReady[0], replicas)
}

func TestUndoInsideRollbackWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var checks checkLog
	spec := baseSpec()
	spec.PrePromotion = []strategy.Check{checks.check("smoke", nil)}
	s := e.strategy(spec)
	e.run(s, "v1")
	e.run(s, "v2")
	e.servesOnly(bluegreen.Green)
	before := e.observe()
	require.Equal(t, slotState{"v1", 3, 3, 3}, before.Blue, "the rollback window keeps v1 running")
	bluePods := e.podUIDs(bluegreen.Blue)
	blue, err := e.kube.AppsV1().Deployments(e.app.Namespace).Get(e.ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	ran := checks.count()

	p := e.eps.Begin()
	start := time.Now()
	res, err := s.Undo(e.ctx, e.app, "v1")
	took := time.Since(start)
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	assert.Equal(t, "v1", res.Revision)
	assert.Equal(t, "v1", res.Stable)
	e.servesOnly(bluegreen.Blue)
	p.Check(t, "undo to v1 inside the window", replicas)
	t.Logf("Undo took %s", took)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 3, 3, 3}, Active: "blue", Preview: "blue",
		Phase: strategy.PhaseSucceeded, Revision: "v1", Stable: "v1"}, e.observe())
	assert.ElementsMatch(t, bluePods, e.podUIDs(bluegreen.Blue), "an instant undo starts no pods")
	after, err := e.kube.AppsV1().Deployments(e.app.Namespace).Get(e.ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, blue.Generation, after.Generation, "an instant undo does not change the slot's Deployment")
	assert.Equal(t, ran, checks.count(), "an instant undo runs no checks")
}

// TestNeverReadyRevisionMissesProgressDeadline ships a revision whose pods
// never turn Ready. kwok's fast pod stage makes every scheduled pod Ready at
// once, readiness gates included (it writes each gate's condition True), so
// the revision's pods are made unschedulable instead: a node selector no
// Node matches keeps them Pending, never Ready, as a crash-looping revision
// would stay.
func TestNeverReadyRevisionMissesProgressDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(e.strategy(baseSpec()), "v1")
	e.servesOnly(bluegreen.Blue)

	spec := baseSpec()
	spec.ProgressDeadline = 3 * time.Second
	bad := e.release("v2")
	bad.Workload.Spec.Template.Spec.NodeSelector = map[string]string{"switchyard.dev/no-such-node": "true"}
	p := e.eps.Begin()
	start := time.Now()
	res, err := e.strategy(spec).Run(e.ctx, bad)
	took := time.Since(start)
	require.ErrorIs(t, err, strategy.ErrProgressDeadline)
	require.NotNil(t, res)
	assert.Equal(t, strategy.PhaseAborted, res.Phase)
	assert.Equal(t, strategy.ReasonProgressDeadline, res.Reason)
	assert.GreaterOrEqual(t, took, spec.ProgressDeadline, "aborted only after the deadline")
	t.Logf("Run returned after %s: %s", took, res.Message)
	got := e.observe()
	p.Check(t, "revision never Ready", replicas)
	e.servesOnly(bluegreen.Blue)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 0, 0, 0}, Active: "blue", Preview: "green",
		Phase: strategy.PhaseAborted, Revision: "v2", Stable: "v1"}, got)
}

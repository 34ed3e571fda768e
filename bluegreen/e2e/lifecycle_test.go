package e2e

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
)

// waitStatus waits, on a watch of the release record, until the record's
// status satisfies cond, and returns that status.
func (e *env) waitStatus(what string, cond func(*strategy.Status) bool) *strategy.Status {
	e.t.Helper()
	cms := e.kube.CoreV1().ConfigMaps(e.app.Namespace)
	records := objcache.New[*corev1.ConfigMap](objcache.For(cms.List, cms.Watch, objcache.ByName(strategy.RecordName(e.app.Name))), clock.RealClock{})
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	require.NoError(e.t, records.Start(ctx))
	var got *strategy.Status
	e.until(what, func() bool {
		st, err := e.control.Status(e.ctx, e.app)
		if err != nil || !cond(st) {
			return false
		}
		got = st
		return true
	}, records)
	return got
}

// slotGeneration returns the generation of slot's Deployment.
func (e *env) slotGeneration(slot string) int64 {
	e.t.Helper()
	d, err := e.kube.AppsV1().Deployments(e.app.Namespace).Get(e.ctx, slots.Name(e.app.Name, slot), metav1.GetOptions{})
	require.NoError(e.t, err)
	return d.Generation
}

// selectors returns the selectors of the active and preview Services.
func (e *env) selectors() (active, preview map[string]string) {
	e.t.Helper()
	a, err := e.kube.CoreV1().Services(e.app.Namespace).Get(e.ctx, appName, metav1.GetOptions{})
	require.NoError(e.t, err)
	p, err := e.kube.CoreV1().Services(e.app.Namespace).Get(e.ctx, appName+"-preview", metav1.GetOptions{})
	require.NoError(e.t, err)
	return a.Spec.Selector, p.Spec.Selector
}

func slotSelector(slot string) map[string]string {
	return map[string]string{"app": appName, strategy.LabelSlot: slot}
}

// history returns the revisions and phases of the record's history.
func (e *env) history() (revs []string, phases []strategy.Phase) {
	e.t.Helper()
	st, err := e.control.Status(e.ctx, e.app)
	require.NoError(e.t, err)
	for _, h := range st.History {
		revs = append(revs, h.Revision)
		phases = append(phases, h.Phase)
	}
	return revs, phases
}

// recordSettled asserts that no driver holds the release and no request is
// pending.
func (e *env) recordSettled() {
	e.t.Helper()
	st, err := e.control.Status(e.ctx, e.app)
	require.NoError(e.t, err)
	assert.Empty(e.t, st.StepName, "no step runs once the release ended")
	assert.False(e.t, st.Lease.Live(time.Now()), "the lease is released when Run returns")
	assert.Empty(e.t, st.Pending, "no request is left pending")
}

// scaledToZero watches Deployment name and reports when its spec first
// asked for 0 replicas, as the event arrived.
type scaledToZero struct {
	mu sync.Mutex
	at time.Time
}

func (e *env) watchScaleToZero(name string) *scaledToZero {
	e.t.Helper()
	z := &scaledToZero{}
	deps := e.kube.AppsV1().Deployments(e.app.Namespace)
	w, err := deps.Watch(e.ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	require.NoError(e.t, err)
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			if d, ok := ev.Object.(*appsv1.Deployment); ok && ev.Type != watch.Deleted && ptr.Deref(d.Spec.Replicas, 1) == 0 {
				z.mu.Lock()
				if z.at.IsZero() {
					z.at = time.Now()
				}
				z.mu.Unlock()
			}
		}
	}()
	return z
}

func (z *scaledToZero) when() time.Time {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.at
}

// TestAdoptionOfPlainDeployment takes the traffic of a plain Deployment
// named after the app, which the active Service (app=web) serves, with the
// first release.
func TestAdoptionOfPlainDeployment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	plain := workload("v0")
	plain.ObjectMeta = metav1.ObjectMeta{Name: appName, Namespace: e.app.Namespace}
	_, err := e.kube.AppsV1().Deployments(e.app.Namespace).Create(e.ctx, plain, metav1.CreateOptions{})
	require.NoError(t, err)
	// The Service serves the plain Deployment's three pods: from then on it
	// must never have fewer than three ready endpoints.
	p, err := e.eps.FullyServed(e.ctx, "the Service fully served", func(s e2ekit.Sample) bool {
		return s.BySlot["other"] == replicas && s.Ready == replicas
	})
	require.NoError(t, err)
	e.until("the plain Deployment to be available", func() bool {
		d, ok := e.deploys.Get(e.app.Namespace, appName)
		return ok && d.Status.AvailableReplicas == replicas && d.Status.ObservedGeneration >= d.Generation
	}, e.deploys)
	tl := followTimeline(t, e.ctx, e.kube, e.app.Namespace)
	zero := e.watchScaleToZero(appName)

	spec := baseSpec()
	res := e.run(e.strategy(spec), "v1")
	assert.Equal(t, "v1", res.Revision)
	assert.Equal(t, "v1", res.Stable)
	e.servesOnly(bluegreen.Blue)
	got := e.observe()
	e.until("the plain Deployment's pods to be gone", func() bool {
		for _, pod := range e.pods.List() {
			if pod.Labels[strategy.LabelSlot] == "" {
				return false
			}
		}
		return true
	}, e.pods)
	e.servesOnly(bluegreen.Blue)
	low := p.Check(t, "adoption of a plain Deployment by v1", replicas)
	t.Logf("adoption: minimum ready endpoints %d", low)

	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Active: "blue", Preview: "blue",
		Phase: strategy.PhaseSucceeded, Revision: "v1", Stable: "v1"}, got)
	active, preview := e.selectors()
	assert.Equal(t, slotSelector(bluegreen.Blue), active)
	assert.Equal(t, slotSelector(bluegreen.Blue), preview)
	_, err = e.kube.AppsV1().Deployments(e.app.Namespace).Get(e.ctx, "web-green", metav1.GetOptions{})
	assert.Error(t, err, "a first release creates no green slot")

	old, err := e.kube.AppsV1().Deployments(e.app.Namespace).Get(e.ctx, appName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 0, ptr.Deref(old.Spec.Replicas, 1), "the adopted Deployment is scaled to zero")
	e.until("the plain Deployment's status to show no replicas", func() bool {
		d, ok := e.deploys.Get(e.app.Namespace, appName)
		return ok && d.Status.ObservedGeneration >= d.Generation && d.Status.Replicas == 0 && d.Status.AvailableReplicas == 0
	}, e.deploys)
	assert.NotEqual(t, strategy.ManagedBy, old.Labels[strategy.LabelManagedBy], "the adopted Deployment stays the user's")

	// The scale-down came ScaleDownDelay after the switch, both as seen by
	// the test's own watches (a small allowance for their delivery).
	tl.mu.Lock()
	var switched time.Time
	for _, s := range tl.switches {
		if s.slot == bluegreen.Blue {
			switched = s.at
			break
		}
	}
	tl.mu.Unlock()
	require.False(t, switched.IsZero(), "the watch saw the switch to blue")
	scaled := zero.when()
	require.False(t, scaled.IsZero(), "the watch saw the plain Deployment scaled to zero")
	t.Logf("plain Deployment scaled to zero %s after the switch (ScaleDownDelay %s)", scaled.Sub(switched), *spec.ScaleDownDelay)
	assert.GreaterOrEqual(t, scaled.Sub(switched), *spec.ScaleDownDelay-50*time.Millisecond, "scaled down only after ScaleDownDelay")

	revs, phases := e.history()
	assert.Equal(t, []string{"v1"}, revs)
	assert.Equal(t, []strategy.Phase{strategy.PhaseSucceeded}, phases)
	e.recordSettled()
}

// TestNewReleaseMidFlight ships v3 while v2 is paused under another driver:
// v2's driver stops, v3 takes the green slot over, blue is never touched.
func TestNewReleaseMidFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(e.strategy(baseSpec(), strategy.WithIdentity("driver-a")), "v1")
	e.servesOnly(bluegreen.Blue)
	require.Equal(t, slotState{"v1", 3, 3, 3}, e.observe().Blue)
	blueGen := e.slotGeneration(bluegreen.Blue)
	bluePods := e.podUIDs(bluegreen.Blue)
	require.Len(t, bluePods, replicas)

	spec := baseSpec()
	spec.ManualPromotion = true
	p := e.eps.Begin()
	first := e.start(e.strategy(spec, strategy.WithIdentity("driver-a")), "v2")
	e.waitStatus("v2 paused", func(st *strategy.Status) bool {
		return st.Revision == "v2" && st.Phase == strategy.PhasePaused
	})

	second := e.start(e.strategy(spec, strategy.WithIdentity("driver-b")), "v3")
	o := e.await(first)
	require.NotNil(t, o.Res, "the replaced Run returns its Result (err %v)", o.Err)
	require.ErrorIs(t, o.Res.Err(), strategy.ErrSuperseded)
	require.ErrorIs(t, o.Err, strategy.ErrSuperseded)
	assert.Equal(t, strategy.PhaseAborted, o.Res.Phase)
	assert.Equal(t, strategy.ReasonSuperseded, o.Res.Reason)
	assert.Equal(t, "v2", o.Res.Revision)
	assert.Equal(t, "v1", o.Res.Stable)
	assert.Contains(t, o.Res.Message, "replaced by v3")

	e.waitStatus("v3 paused", func(st *strategy.Status) bool {
		return st.Revision == "v3" && st.Phase == strategy.PhasePaused
	})
	paused := e.observe()
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v3", 3, 3, 3}, Active: "blue", Preview: "green",
		Phase: strategy.PhasePaused, Revision: "v3", Stable: "v1"}, paused, "v3 took the candidate slot over")
	assert.Equal(t, blueGen, e.slotGeneration(bluegreen.Blue), "the live slot's Deployment was never changed")
	assert.ElementsMatch(t, bluePods, e.podUIDs(bluegreen.Blue), "the live slot's pods were never replaced")
	e.servesOnly(bluegreen.Blue)
	for _, s := range p.Samples() {
		require.Zero(t, s.BySlot[bluegreen.Green], "no green pod takes traffic before Promote: %s", s)
	}
	active, preview := e.selectors()
	assert.Equal(t, slotSelector(bluegreen.Blue), active)
	assert.Equal(t, slotSelector(bluegreen.Green), preview)

	require.NoError(t, e.control.Promote(e.ctx, e.app))
	o = e.await(second)
	require.NoError(t, o.Err)
	assert.Equal(t, strategy.PhaseSucceeded, o.Res.Phase)
	assert.Equal(t, "v3", o.Res.Revision)
	assert.Equal(t, "v3", o.Res.Stable)
	e.servesOnly(bluegreen.Green)
	got := e.observe()
	low := p.Check(t, "v3 replaces v2 mid-flight, then promoted", replicas)
	t.Logf("mid-flight replacement: minimum ready endpoints %d", low)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v3", 3, 3, 3}, Active: "green", Preview: "green",
		Phase: strategy.PhaseSucceeded, Revision: "v3", Stable: "v3"}, got)
	assert.Equal(t, blueGen, e.slotGeneration(bluegreen.Blue), "the old slot is kept as it was by the rollback window")
	active, preview = e.selectors()
	assert.Equal(t, slotSelector(bluegreen.Green), active)
	assert.Equal(t, slotSelector(bluegreen.Green), preview)
	revs, phases := e.history()
	assert.Equal(t, []string{"v1", "v2", "v3"}, revs)
	assert.Equal(t, []strategy.Phase{strategy.PhaseSucceeded, strategy.PhaseAborted, strategy.PhaseSucceeded}, phases)
	e.recordSettled()
}

// TestUndoOutsideRollbackWindow undoes to a revision whose slot was scaled
// down: the slot is deployed again and traffic switches back.
func TestUndoOutsideRollbackWindow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	spec := baseSpec()
	spec.RollbackWindow = ptr.To(0)
	spec.ScaleDownDelay = ptr.To(500 * time.Millisecond)
	s := e.strategy(spec)
	e.run(s, "v1")
	e.run(s, "v2")
	e.servesOnly(bluegreen.Green)
	require.Equal(t, endState{Blue: slotState{"v1", 0, 0, 0}, Green: slotState{"v2", 3, 3, 3}, Active: "green", Preview: "green",
		Phase: strategy.PhaseSucceeded, Revision: "v2", Stable: "v2"}, e.observe(), "outside the window blue is scaled down")

	p := e.eps.Begin()
	start := time.Now()
	res, err := s.Undo(e.ctx, e.app, "v1")
	took := time.Since(start)
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	assert.Equal(t, "v1", res.Revision)
	assert.Equal(t, "v1", res.Stable)
	e.servesOnly(bluegreen.Blue)
	got := e.observe()
	low := p.Check(t, "undo to v1 outside the window", replicas)
	t.Logf("undo outside the window: minimum ready endpoints %d; Undo took %s", low, took)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 0, 0, 0}, Active: "blue", Preview: "blue",
		Phase: strategy.PhaseSucceeded, Revision: "v1", Stable: "v1"}, got)
	active, preview := e.selectors()
	assert.Equal(t, slotSelector(bluegreen.Blue), active)
	assert.Equal(t, slotSelector(bluegreen.Blue), preview)
	blue, err := e.kube.AppsV1().Deployments(e.app.Namespace).Get(e.ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "web:v1", blue.Spec.Template.Spec.Containers[0].Image, "blue runs v1's recorded workload")
	revs, phases := e.history()
	assert.Equal(t, []string{"v2", "v1"}, revs)
	assert.Equal(t, []strategy.Phase{strategy.PhaseSucceeded, strategy.PhaseSucceeded}, phases)
	e.recordSettled()
}

// TestRetryAfterFailedCheck retries a release whose pre-promotion check
// failed once: Control.Retry, then Run of the same revision, succeeds.
func TestRetryAfterFailedCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(e.strategy(baseSpec()), "v1")
	e.servesOnly(bluegreen.Blue)

	var calls atomic.Int32
	var checks checkLog
	inner := checks.check("flaky", nil)
	spec := baseSpec()
	spec.PrePromotion = []strategy.Check{{Name: "flaky", Func: func(ctx context.Context, in strategy.CheckInput) error {
		err := inner.Func(ctx, in)
		if calls.Add(1) == 1 {
			return errors.Join(err, errors.New("GET /healthz returned 503"))
		}
		return err
	}}}
	s := e.strategy(spec)

	p := e.eps.Begin()
	res, err := s.Run(e.ctx, e.release("v2"))
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
	require.NotNil(t, res)
	assert.Equal(t, strategy.PhaseAborted, res.Phase)
	assert.Equal(t, strategy.ReasonAnalysisFailed, res.Reason)
	assert.Contains(t, res.Message, "check flaky failed: GET /healthz returned 503")
	assert.Equal(t, "v1", res.Stable)
	e.servesOnly(bluegreen.Blue)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 0, 0, 0}, Active: "blue", Preview: "green",
		Phase: strategy.PhaseAborted, Revision: "v2", Stable: "v1"}, e.observe())

	// Without Retry, a Run of the aborted revision returns its recorded end.
	res, err = s.Run(e.ctx, e.release("v2"))
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
	assert.Equal(t, strategy.PhaseAborted, res.Phase)
	require.Equal(t, 1, checks.count(), "no check runs for a release that has ended")

	require.NoError(t, strategy.NewControl(e.kube).Retry(e.ctx, e.app))
	st, err := e.control.Status(e.ctx, e.app)
	require.NoError(t, err)
	require.Len(t, st.Pending, 1)
	assert.Equal(t, strategy.ActionRetry, st.Pending[0].Action)

	res = e.run(s, "v2")
	assert.Equal(t, "v2", res.Revision)
	assert.Equal(t, "v2", res.Stable)
	e.servesOnly(bluegreen.Green)
	got := e.observe()
	low := p.Check(t, "failed check, Retry, then v2 again", replicas)
	t.Logf("retry: minimum ready endpoints %d", low)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 3, 3, 3}, Active: "green", Preview: "green",
		Phase: strategy.PhaseSucceeded, Revision: "v2", Stable: "v2"}, got)
	active, preview := e.selectors()
	assert.Equal(t, slotSelector(bluegreen.Green), active)
	assert.Equal(t, slotSelector(bluegreen.Green), preview)
	require.Equal(t, 2, checks.count(), "the check ran again on the retry")
	for i, in := range checks.calls {
		assert.Equal(t, "web-preview", in.Service, "call %d", i)
		assert.Equal(t, "web-green", in.Slot, "call %d", i)
		assert.Equal(t, "v1", in.Stable, "call %d", i)
	}
	revs, phases := e.history()
	assert.Equal(t, []string{"v1", "v2"}, revs)
	assert.Equal(t, []strategy.Phase{strategy.PhaseSucceeded, strategy.PhaseSucceeded}, phases)
	e.recordSettled()
}

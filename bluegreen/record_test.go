package bluegreen_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// recordObject is a labelled release record whose JSON is raw.
func recordObject(raw string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: strategy.RecordName(app.Name), Namespace: app.Namespace,
			Labels: map[string]string{strategy.LabelManagedBy: strategy.ManagedBy, strategy.LabelRecord: "true", strategy.LabelApp: app.Name}},
		Data: map[string]string{strategy.RecordKey: raw},
	}
}

// inFlight is the record of a v2 release in flight, with fields replaced.
func inFlight(t *testing.T, edit func(m map[string]any)) string {
	m := map[string]any{"schema": 1, "app": "web", "strategy": "bluegreen", "revision": "v2", "stable": "v1",
		"phase": "Progressing", "step": 5, "stepName": "switch", "seq": 0,
		"lease": map[string]any{"duration": "30s"},
		"state": map[string]any{"candidate": "green", "previous": "blue"}}
	edit(m)
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	return string(raw)
}

// TestEditedRecordsAreRejectedWithoutWrites: anyone who can edit
// ConfigMaps can write a record; none may crash the program, fake a
// success or steer writes. Each is ErrCorruptRecord with nothing written.
func TestEditedRecordsAreRejectedWithoutWrites(t *testing.T) {
	cases := map[string]func(m map[string]any){
		"negative step":         func(m map[string]any) { m["step"] = -1 },
		"step past the end":     func(m map[string]any) { m["step"], m["stepName"] = 9999, "done" },
		"step name not a step":  func(m map[string]any) { m["stepName"] = "launch-missiles" },
		"index and name differ": func(m map[string]any) { m["step"] = 2 },
		"unknown phase":         func(m map[string]any) { m["phase"] = "Bogus" },
		"unknown slot":          func(m map[string]any) { m["state"] = map[string]any{"candidate": "purple"} },
		"foreign adoption": func(m map[string]any) {
			m["state"] = map[string]any{"candidate": "blue", "adopted": "payments"}
		},
		"state not an object": func(m map[string]any) { m["state"] = []int{1} },
		"unknown request":     func(m map[string]any) { m["requests"] = []map[string]any{{"action": "Explode"}} },
		"negative lease":      func(m map[string]any) { m["lease"] = map[string]any{"duration": "-5s"} },
		"bad revision":        func(m map[string]any) { m["stable"] = "not a label!" },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, recordObject(inFlight(t, edit)))
			c.ResetRequests()
			res, err := newStrategy(c, baseSpec(), "driver-a").Run(testCtx(t), release("v2"))
			require.ErrorIs(t, err, strategy.ErrCorruptRecord)
			assert.Nil(t, res)
			for k, n := range c.Requests() {
				assert.Contains(t, []string{"get", "list", "watch"}, k.Verb, "%d %s %s", n, k.Verb, k.Resource)
			}
		})
	}
}

// TestLeaseInTheFarFutureLapses: a lease renewed "in 2999" for a hundred
// years holds a release for one bounded lease at most, then a driver takes
// it over.
func TestLeaseInTheFarFutureLapses(t *testing.T) {
	ctx := testCtx(t)
	raw := inFlight(t, func(m map[string]any) {
		m["stepName"], m["step"] = "deploy", 0
		m["lease"] = map[string]any{"holder": "ghost", "renewed": "2999-01-01T00:00:00Z", "duration": "876000h"}
	})
	c := newCluster(t, recordObject(raw))
	start := c.Clock().Now()
	res, err := newStrategy(c, baseSpec(), "driver-a").Run(ctx, release("v2"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	assert.LessOrEqual(t, c.Clock().Now().Sub(start), strategy.MaxLeaseDuration+5*time.Minute,
		"the lease held the release for one bounded lease at most")
}

// TestSecondDriverNeverActsDuringALongCheck: a 40 s check with a 10 s
// lease; a second driver started during it never writes, and the first
// finishes without losing its lease.
func TestSecondDriverNeverActsDuringALongCheck(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	lease := strategy.WithLeaseDuration(10 * time.Second)
	_, err := newStrategy(c, baseSpec(), "driver-a", lease).Run(ctx, release("v1"))
	require.NoError(t, err)

	var byB atomic.Int32
	c.Clientset().PrependReactor("*", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if u, ok := a.(k8stesting.UpdateAction); ok {
			if cm, ok := u.GetObject().(*corev1.ConfigMap); ok {
				var rec record.Record
				if json.Unmarshal([]byte(cm.Data[strategy.RecordKey]), &rec) == nil && rec.Lease.Holder == "driver-b" &&
					!rec.Phase.Terminal() {
					byB.Add(1)
				}
			}
		}
		return false, nil, nil
	})
	var runs atomic.Int32
	spec := baseSpec()
	spec.PostPromotion = []strategy.Check{{Name: "forty-seconds", Func: func(ctx context.Context, in strategy.CheckInput) error {
		runs.Add(1)
		t := in.Clock.NewTimer(40 * time.Second)
		defer t.Stop()
		select {
		case <-t.C():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}}
	second := make(chan error, 1)
	var started atomic.Bool
	obs := strategy.WithObserver(func(e strategy.Event) {
		if e.Type == strategy.EventStepStarted && e.StepName == "post-promotion" && started.CompareAndSwap(false, true) {
			go func() {
				res, err := newStrategy(c, spec, "driver-b", lease).Run(ctx, release("v2"))
				if err == nil && res.Phase != strategy.PhaseSucceeded {
					err = res.Err()
				}
				second <- err
			}()
		}
	})
	res, err := newStrategy(c, spec, "driver-a", lease, obs).Run(ctx, release("v2"))
	require.NoError(t, err, "the first driver kept its lease through the check")
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	require.NoError(t, <-second, "the second driver returns the recorded result")
	assert.EqualValues(t, 1, runs.Load(), "the check ran once")
	assert.Zero(t, byB.Load(), "the second driver never wrote the record of a release in flight")
	assert.Zero(t, observe(t, c).RecordPending)
}

// TestSameIdentityTakesOverAtOnce: a driver restarted with the identity of
// one that stopped mid-release continues at once; one with another
// identity waits for the lease.
func TestSameIdentityTakesOverAtOnce(t *testing.T) {
	for _, tc := range []struct {
		id   string
		wait time.Duration
	}{{"driver-a", 0}, {"driver-b", strategy.DefaultLeaseDuration}} {
		t.Run(tc.id, func(t *testing.T) {
			c := newCluster(t)
			ctx := testCtx(t)
			_, err := newStrategy(c, baseSpec(), "driver-a").Run(ctx, release("v1"))
			require.NoError(t, err)
			spec := baseSpec()
			spec.ManualPromotion = true
			stopped, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = newStrategy(c, spec, "driver-a").Run(stopped, release("v2"))
			}()
			waitPhase(t, c, strategy.PhasePaused)
			stop() // the process dies with its lease held
			<-done
			st, err := strategy.NewControl(c.Clients().Kube).Status(ctx, app)
			require.NoError(t, err)
			require.Equal(t, "driver-a", st.Lease.Holder)
			c.Clock().SetAutoAdvance(false)
			before := c.Clock().Now()
			// The Promote goroutine takes part in the clock from before it
			// starts: otherwise the clock may run ahead of it.
			_, _, promoted := c.Clock().Track()
			go func() {
				defer promoted()
				_ = strategy.NewControl(c.Clients().Kube).Promote(ctx, app)
			}()
			c.Clock().SetAutoAdvance(true)
			res, err := newStrategy(c, spec, tc.id).Run(ctx, release("v2"))
			require.NoError(t, err)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			took := st.Lease.Renewed.Add(strategy.DefaultLeaseDuration).Sub(before)
			if tc.wait == 0 {
				assert.Less(t, res.Finished.Sub(before), took, "no wait for the lease")
			} else {
				assert.GreaterOrEqual(t, res.Finished.Sub(before), took, "waited for the lease")
			}
		})
	}
}

// TestTransientErrorsOnPreflightReadsAreRetried: the Services read before
// the first write are retried like every other call.
func TestTransientErrorsOnPreflightReadsAreRetried(t *testing.T) {
	c := newCluster(t)
	c.FailRequests("get", "services", apierrors.NewServiceUnavailable("busy"), 2)
	c.FailRequests("get", "deployments", apierrors.NewTooManyRequests("slow down", 1), 1)
	res, err := newStrategy(c, baseSpec(), "driver-a").Run(testCtx(t), release("v1"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)

	c.FailRequests("get", "services", apierrors.NewForbidden(schema.GroupResource{Resource: "services"}, "web", nil), 1)
	_, err = newStrategy(c, baseSpec(), "driver-a").Run(testCtx(t), release("v2"))
	require.Error(t, err)
	assert.True(t, apierrors.IsForbidden(err), "a permanent error is returned at once: %v", err)
	assert.Contains(t, err.Error(), "Service web")
}

// TestForbiddenWatchFailsTheReleaseAtOnce: without the "watch" permission
// on pods a release used to wait its whole progress deadline and then
// blame availability; it now stops with the watch's error.
func TestForbiddenWatchFailsTheReleaseAtOnce(t *testing.T) {
	c := newCluster(t)
	c.FailRequests("watch", "pods", apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no watch")), 0)
	start := c.Clock().Now()
	_, err := newStrategy(c, baseSpec(), "driver-a").Run(testCtx(t), release("v1"))
	var we *strategy.WatchError
	require.ErrorAs(t, err, &we)
	assert.True(t, apierrors.IsForbidden(err), "the error is the watch's: %v", err)
	assert.Less(t, c.Clock().Now().Sub(start), 30*time.Second, "well within the progress deadline")
}

// TestRecordShowsWhereTheReleaseWaitsAndWhyItStopped: a release paused for
// Promote says so at its promotion step; one stopped by an error it cannot
// get past says why in the record and lets its lease go.
func TestRecordShowsWhereTheReleaseWaitsAndWhyItStopped(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	spec := baseSpec()
	spec.ManualPromotion = true
	control := strategy.NewControl(c.Clients().Kube, strategy.WithClock(c.Clock()), strategy.WithIdentity("operator"))
	go func() {
		st, err := control.Await(ctx, app, func(s *strategy.Status) bool { return s.Phase == strategy.PhasePaused })
		if assert.NoError(t, err) {
			assert.Equal(t, "promotion", st.StepName)
			assert.NoError(t, control.Promote(ctx, app))
		}
	}()
	_, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v1"))
	require.NoError(t, err)

	c.FailRequests("patch", "deployments", apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web-green", errors.New("no")), 0)
	_, err = newStrategy(c, baseSpec(), "driver-a").Run(ctx, release("v2"))
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	st, err := control.Status(ctx, app)
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseProgressing, st.Phase, "the release is not ended: a later Run continues it")
	assert.Contains(t, st.Message, "forbidden")
	assert.Empty(t, st.Lease.Holder, "any driver may continue at once")
}

// TestNoRequestLeftBehindAfterATakeover: a driver that takes over a
// release of its own revision from a stopped one sends no Replace for it,
// and the finished record holds no pending request.
func TestNoRequestLeftBehindAfterATakeover(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	_, err := newStrategy(c, baseSpec(), "driver-a").Run(ctx, release("v1"))
	require.NoError(t, err)
	spec := baseSpec()
	spec.ManualPromotion = true
	stopped, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = newStrategy(c, spec, "driver-a").Run(stopped, release("v2"))
	}()
	waitPhase(t, c, strategy.PhasePaused)
	stop()
	<-done
	control := strategy.NewControl(c.Clients().Kube, strategy.WithClock(c.Clock()), strategy.WithIdentity("operator"))
	require.NoError(t, control.Replace(ctx, app, "v2"), "Replace for the revision in flight is a no-op")
	require.NoError(t, control.Promote(ctx, app))
	res, err := newStrategy(c, spec, "driver-b").Run(ctx, release("v2"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	st, err := control.Status(ctx, app)
	require.NoError(t, err)
	assert.Empty(t, st.Pending, "no request is left in the finished record")
}

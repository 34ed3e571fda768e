package strategy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

func TestBeginTakesLeaseAndSecondDriverIsLocked(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, err := e.begin(t, ctx, "driver-a")
	require.NoError(t, err)
	defer a.Close()

	_, err = e.begin(t, ctx, "driver-b")
	require.ErrorIs(t, err, strategy.ErrLocked)
	var locked *strategy.LockedError
	require.ErrorAs(t, err, &locked)
	assert.Equal(t, "driver-a", locked.Holder)
	assert.Equal(t, t0.Add(strategy.DefaultLeaseDuration), locked.Until)

	st, err := strategy.NewControl(e.kube).Status(ctx, app)
	require.NoError(t, err)
	assert.Equal(t, "driver-a", st.Lease.Holder)
	assert.Equal(t, t0, st.Lease.Acquired)
}

func TestAbandonedDriverIsTakenOverAfterLeaseLapses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, err := e.begin(t, ctx, "driver-a")
	require.NoError(t, err)
	require.NoError(t, a.Save(ctx, func(r *record.Record) error {
		r.Revision, r.Phase, r.Step, r.StepName = "v1", strategy.PhaseProgressing, 2, "wait"
		return nil
	}))
	a.Close() // crash: no cleanup, the lease stays

	e.clock.Step(strategy.DefaultLeaseDuration - time.Nanosecond)
	_, err = e.begin(t, ctx, "driver-b")
	require.ErrorIs(t, err, strategy.ErrLocked, "lease is still live one nanosecond before it lapses")

	e.clock.Step(time.Nanosecond)
	b, err := e.begin(t, ctx, "driver-b")
	require.NoError(t, err)
	defer b.Close()
	rec := b.Record()
	assert.Equal(t, "driver-b", rec.Lease.Holder)
	assert.Equal(t, 2, rec.Step, "the new driver continues from the recorded step")
	assert.Equal(t, strategy.PhaseProgressing, rec.Phase)

	// The old driver, had it survived, may no longer write.
	err = a.Save(ctx, nil)
	require.ErrorIs(t, err, strategy.ErrLeaseLost)
}

func TestBadRecordIsReportedAndLeftAlone(t *testing.T) {
	labels := map[string]string{strategy.LabelManagedBy: strategy.ManagedBy, strategy.LabelRecord: "true"}
	cases := map[string]struct {
		cm   *corev1.ConfigMap
		want error
	}{
		"not json": {
			cm:   &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Data: map[string]string{strategy.RecordKey: "{not json"}},
			want: strategy.ErrCorruptRecord,
		},
		"no key": {
			cm:   &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Data: map[string]string{"other": "x"}},
			want: strategy.ErrCorruptRecord,
		},
		"other app": {
			cm:   &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Data: map[string]string{strategy.RecordKey: `{"schema":1,"app":"api"}`}},
			want: strategy.ErrCorruptRecord,
		},
		"future schema": {
			cm:   &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Data: map[string]string{strategy.RecordKey: `{"schema":9,"app":"web"}`}},
			want: strategy.ErrCorruptRecord,
		},
		"not ours": {
			cm:   &corev1.ConfigMap{Data: map[string]string{"settings": "a=b"}},
			want: strategy.ErrForeignRecord,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newEnv(t)
			tc.cm.Name, tc.cm.Namespace = strategy.RecordName(app.Name), app.Namespace
			_, err := e.kube.CoreV1().ConfigMaps(app.Namespace).Create(ctx, tc.cm, metav1.CreateOptions{})
			require.NoError(t, err)
			before, err := e.kube.CoreV1().ConfigMaps(app.Namespace).Get(ctx, tc.cm.Name, metav1.GetOptions{})
			require.NoError(t, err)

			_, err = e.begin(t, ctx, "driver-a")
			require.ErrorIs(t, err, tc.want)
			var re *strategy.RecordError
			require.ErrorAs(t, err, &re)
			assert.Contains(t, err.Error(), "web.switchyard")

			err = strategy.NewControl(e.kube).Abort(ctx, app)
			require.ErrorIs(t, err, tc.want, "control requests refuse the record too")

			after, err := e.kube.CoreV1().ConfigMaps(app.Namespace).Get(ctx, tc.cm.Name, metav1.GetOptions{})
			require.NoError(t, err)
			assert.Equal(t, before, after, "the record is left as it was")
		})
	}
}

func TestSaveReappliesMutationAfterConflict(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	d, err := e.begin(t, ctx, "driver-a")
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Save(ctx, func(r *record.Record) error { r.Phase = strategy.PhaseProgressing; return nil }))

	// Another process writes a request, and the driver's next write meets a
	// conflict once.
	require.NoError(t, strategy.NewControl(e.kube).Pause(ctx, app))
	e.cluster.Conflicts("update", "configmaps", 1)
	calls := 0
	require.NoError(t, d.Save(ctx, func(r *record.Record) error {
		calls++
		r.Step = 3
		return nil
	}))
	assert.Equal(t, 2, calls, "the mutation is applied again on the fresh record")
	st, err := strategy.NewControl(e.kube).Status(ctx, app)
	require.NoError(t, err)
	assert.Equal(t, 3, st.Step)
	require.Len(t, st.Pending, 1, "the concurrent request survives the driver's write")
	assert.Equal(t, strategy.ActionPause, st.Pending[0].Action)
}

func TestRecordKeepsHistoryLimitAndExactTimes(t *testing.T) {
	var r record.Record
	start := t0.Add(1234567 * time.Nanosecond)
	for i := range 12 {
		r.Remember(strategy.Revision{Revision: string(rune('a' + i)), Started: start}, 10)
	}
	require.Len(t, r.History, 10)
	assert.Equal(t, "c", r.History[0].Revision)
	r.Remember(strategy.Revision{Revision: "e", Phase: strategy.PhaseAborted}, 10)
	require.Len(t, r.History, 10)
	h, ok := r.Find("e")
	require.True(t, ok)
	assert.Equal(t, strategy.PhaseAborted, h.Phase)
	assert.Equal(t, "e", r.History[9].Revision, "a replaced revision moves to the newest place")

	ctx := context.Background()
	e := newEnv(t)
	e.clock.SetTime(start)
	d, err := e.begin(t, ctx, "driver-a")
	require.NoError(t, err)
	defer d.Close()
	st, err := strategy.NewControl(e.kube).Status(ctx, app)
	require.NoError(t, err)
	assert.True(t, st.Lease.Renewed.Equal(start), "timestamps keep nanoseconds: %v", st.Lease.Renewed)
}

func TestRetryClassifiesErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- strategy.Retry(ctx, e.clock, func(context.Context) error {
			calls++
			if calls < 3 {
				return errTransient
			}
			return nil
		})
	}()
	for range 2 {
		waitForWaiters(t, e.clock)
		e.clock.Step(time.Minute)
	}
	require.NoError(t, <-done)
	assert.Equal(t, 3, calls)

	calls = 0
	err := strategy.Retry(ctx, e.clock, func(context.Context) error { calls++; return errPermanent })
	require.ErrorIs(t, err, errPermanent)
	assert.Equal(t, 1, calls, "permanent errors are not retried")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = strategy.Retry(cctx, e.clock, func(context.Context) error { return errTransient })
	require.ErrorIs(t, err, context.Canceled)
	require.True(t, errors.Is(err, errTransient), "the last error is kept")
}

func TestRestartStartsAFreshReleaseAndKeepsHistory(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &record.Record{Strategy: "canary", Revision: "v1", Phase: strategy.PhaseAborted, Reason: strategy.ReasonRequested,
		Message: "aborted", Step: 100, Paused: true, PauseUntil: now, State: []byte(`{"old":true}`),
		Measurements: []strategy.Measurement{{Metric: "m"}}, History: []strategy.Revision{{Revision: "v1"}}}
	type st struct{ Slot string }
	require.NoError(t, r.Restart(strategy.Revision{Revision: "v2", Started: now}, "deploy", st{Slot: "green"}, 10))
	assert.Equal(t, "v2", r.Revision)
	assert.Equal(t, strategy.PhaseProgressing, r.Phase)
	assert.Empty(t, r.Reason)
	assert.Empty(t, r.Message)
	assert.Equal(t, 0, r.Step)
	assert.Equal(t, "deploy", r.StepName)
	assert.False(t, r.Paused)
	assert.True(t, r.PauseUntil.IsZero())
	assert.Nil(t, r.Measurements)
	assert.Equal(t, now, r.Started)
	require.Len(t, r.History, 2)
	assert.Equal(t, strategy.PhaseProgressing, r.History[1].Phase)
	var got st
	require.NoError(t, r.DecodeState(&got))
	assert.Equal(t, "green", got.Slot)

	require.NoError(t, r.Restart(strategy.Revision{Revision: "v3", Started: now}, "apply", nil, 2))
	assert.Nil(t, r.State, "no state")
	assert.Len(t, r.History, 2, "the history keeps its limit")
	got = st{Slot: "kept"}
	require.NoError(t, r.DecodeState(&got))
	assert.Equal(t, "kept", got.Slot, "an empty state leaves the value alone")
	r.State = []byte("{")
	assert.Error(t, r.DecodeState(&got))
}

func TestPauseOrResume(t *testing.T) {
	r := &record.Record{Phase: strategy.PhaseProgressing}
	r.PauseOrResume(strategy.Request{Action: strategy.ActionPause}, false)
	assert.True(t, r.Paused)
	assert.Equal(t, strategy.PhasePaused, r.Phase)
	r.PauseOrResume(strategy.Request{Action: strategy.ActionResume}, true)
	assert.False(t, r.Paused)
	assert.Equal(t, strategy.PhasePaused, r.Phase, "still waiting for Promote")
	r.PauseOrResume(strategy.Request{Action: strategy.ActionResume}, false)
	assert.Equal(t, strategy.PhaseProgressing, r.Phase)
	r.PauseOrResume(strategy.Request{Action: strategy.ActionAbort}, false)
	assert.Equal(t, strategy.PhaseProgressing, r.Phase, "other requests change nothing")
}

package strategy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

func TestAwaitWaitsForAStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e := newEnv(t)
	e.clock.SetAutoAdvance(true)
	control := strategy.NewControl(e.kube, strategy.WithClock(e.clock), strategy.WithIdentity("operator"))
	got := make(chan *strategy.Status, 1)
	go func() {
		st, err := control.Await(ctx, app, func(s *strategy.Status) bool { return s.Phase == strategy.PhasePaused })
		assert.NoError(t, err)
		got <- st
	}()
	d, err := e.begin(t, ctx, "driver-a")
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Save(ctx, func(r *record.Record) error { r.Phase = strategy.PhaseProgressing; return nil }))
	select {
	case st := <-got:
		t.Fatalf("Await returned before the release was paused: %s", st.Phase)
	default:
	}
	require.NoError(t, d.Save(ctx, func(r *record.Record) error { r.Phase, r.StepName = strategy.PhasePaused, "pause"; return nil }))
	st := <-got
	assert.Equal(t, strategy.PhasePaused, st.Phase)
	assert.Equal(t, "pause", st.StepName)

	short, stop := context.WithCancel(ctx)
	stop()
	_, err = control.Await(short, app, func(*strategy.Status) bool { return false })
	assert.ErrorIs(t, err, context.Canceled)
}

func TestAwaitReturnsAForbiddenWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e := newEnv(t)
	e.clock.SetAutoAdvance(true)
	e.cluster.FailRequests("watch", "configmaps", apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "", errors.New("no watch")), 0)
	control := strategy.NewControl(e.kube, strategy.WithClock(e.clock))
	_, err := control.Await(ctx, app, func(*strategy.Status) bool { return false })
	var we *strategy.WatchError
	require.ErrorAs(t, err, &we, "a watch the identity may not make ends the wait at once")
	assert.True(t, apierrors.IsForbidden(err))
}

func TestListReportsEveryReleaseAndSkipsBadRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e := newEnv(t)
	d, err := e.begin(t, ctx, "driver-a")
	require.NoError(t, err)
	require.NoError(t, d.Save(ctx, func(r *record.Record) error { r.Phase, r.StepName = strategy.PhasePaused, "pause"; return nil }))
	d.Close()
	bad := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: strategy.RecordName("edited"),
		Labels: map[string]string{strategy.LabelRecord: "true", strategy.LabelManagedBy: strategy.ManagedBy}},
		Data: map[string]string{strategy.RecordKey: "{not json"}}
	_, err = e.kube.CoreV1().ConfigMaps(app.Namespace).Create(ctx, bad, metav1.CreateOptions{})
	require.NoError(t, err)

	control := strategy.NewControl(e.kube, strategy.WithClock(e.clock))
	list, err := control.List(ctx, "")
	require.ErrorIs(t, err, strategy.ErrCorruptRecord)
	require.Len(t, list, 1)
	assert.Equal(t, app, list[0].App)
	assert.Equal(t, strategy.PhasePaused, list[0].Phase)

	list, err = control.List(ctx, "elsewhere")
	require.NoError(t, err)
	assert.Empty(t, list)
}

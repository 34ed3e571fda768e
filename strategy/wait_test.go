package strategy_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

func TestWaitWakesOnRequestFromAnotherProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e := newEnv(t)
	d, err := e.begin(t, ctx, "driver-a")
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Save(ctx, func(r *record.Record) error { r.Phase = strategy.PhaseProgressing; return nil }))

	woke := make(chan flow.Wake, 1)
	go func() {
		w, err := d.Wait(ctx, flow.WaitFor{Requests: func(q strategy.Request) bool { return q.Action == strategy.ActionAbort }})
		assert.NoError(t, err)
		woke <- w
	}()
	waitForWaiters(t, e.clock) // the driver blocks, with a lease-renewal timer
	require.NoError(t, strategy.NewControl(e.kube, strategy.WithClock(e.clock)).Abort(ctx, app))
	assert.Equal(t, flow.WokeRequest, <-woke)
	assert.Equal(t, t0, e.clock.Now(), "the request arrived through the watch: no time passed")
}

func TestWaitDeadlineIsExactAndLeaseIsRenewed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e := newEnv(t)
	e.clock.SetAutoAdvance(true)
	d, err := e.begin(t, ctx, "driver-a")
	require.NoError(t, err)
	defer d.Close()
	until := t0.Add(5*time.Minute + 1234*time.Microsecond)
	w, err := d.Wait(ctx, flow.WaitFor{Until: until})
	require.NoError(t, err)
	assert.Equal(t, flow.WokeDeadline, w)
	assert.Equal(t, until, e.clock.Now(), "a pause ends exactly when it should")

	cm, err := e.kube.CoreV1().ConfigMaps(app.Namespace).Get(ctx, strategy.RecordName(app.Name), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, cm.Data[strategy.RecordKey], `"holder":"driver-a"`)
	st, err := strategy.NewControl(e.kube).Status(ctx, app)
	require.NoError(t, err)
	assert.True(t, st.Lease.Live(until), "the lease was renewed during a wait longer than the lease")
}

func TestHoldEndsByUntilDeadlineOrRequestAndStopsWhilePaused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e := newEnv(t)
	e.clock.SetAutoAdvance(true)
	d, err := e.begin(t, ctx, "driver-a")
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Save(ctx, func(r *record.Record) error { r.Phase = strategy.PhaseProgressing; return nil }))

	held, err := d.Hold(ctx, flow.Hold{Until: t0.Add(time.Minute), Deadline: t0.Add(time.Hour)})
	require.NoError(t, err)
	assert.Equal(t, flow.HeldUntil, held)
	assert.Equal(t, t0.Add(time.Minute), e.clock.Now())

	held, err = d.Hold(ctx, flow.Hold{Until: t0.Add(time.Hour), Deadline: t0.Add(2 * time.Minute)})
	require.NoError(t, err)
	assert.Equal(t, flow.HeldPastDeadline, held)
	assert.Equal(t, t0.Add(2*time.Minute), e.clock.Now())

	at := t0.Add(3 * time.Minute)
	held, err = d.Hold(ctx, flow.Hold{Cond: func() (bool, time.Time) { return !e.clock.Now().Before(at), at }})
	require.NoError(t, err)
	assert.Equal(t, flow.HeldMet, held, "rechecked at the time Cond asked for")
	assert.Equal(t, t0.Add(3*time.Minute), e.clock.Now())

	// Paused by a person: time and conditions do not end the hold.
	require.NoError(t, d.Save(ctx, func(r *record.Record) error { r.Paused = true; return nil }))
	control := strategy.NewControl(e.kube, strategy.WithClock(e.clock), strategy.WithIdentity("operator"))
	go func() {
		waitForWaiters(t, e.clock)
		e.clock.Step(2 * time.Hour)
		assert.NoError(t, control.Abort(ctx, app))
	}()
	held, err = d.Hold(ctx, flow.Hold{Until: e.clock.Now().Add(time.Minute), Cond: func() (bool, time.Time) { return true, time.Time{} },
		Takes: func(q strategy.Request) bool { return q.Action == strategy.ActionAbort }})
	require.NoError(t, err)
	assert.Equal(t, flow.HeldForRequest, held)
	assert.GreaterOrEqual(t, e.clock.Now().Sub(t0), 2*time.Hour, "the hold outlasted its minute while paused")
}

package strategy_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-dev/switchyard/strategy"
)

func TestWaitWakesOnRequestFromAnotherProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e := newEnv(t)
	d, err := e.begin(t, ctx, "driver-a")
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Save(ctx, func(r *strategy.Record) error { r.Phase = strategy.PhaseProgressing; return nil }))

	woke := make(chan strategy.Wake, 1)
	go func() {
		w, err := d.Wait(ctx, strategy.WaitFor{Requests: func(q strategy.Request) bool { return q.Action == strategy.ActionAbort }})
		assert.NoError(t, err)
		woke <- w
	}()
	waitForWaiters(t, e.clock) // the driver blocks, with a lease-renewal timer
	require.NoError(t, strategy.NewControl(e.kube, strategy.WithClock(e.clock)).Abort(ctx, app))
	assert.Equal(t, strategy.WokeRequest, <-woke)
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
	w, err := d.Wait(ctx, strategy.WaitFor{Until: until})
	require.NoError(t, err)
	assert.Equal(t, strategy.WokeDeadline, w)
	assert.Equal(t, until, e.clock.Now(), "a pause ends exactly when it should")

	cm, err := e.kube.CoreV1().ConfigMaps(app.Namespace).Get(ctx, strategy.RecordName(app.Name), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, cm.Data[strategy.RecordKey], `"holder":"driver-a"`)
	st, err := strategy.NewControl(e.kube).Status(ctx, app)
	require.NoError(t, err)
	assert.True(t, st.Lease.Live(until), "the lease was renewed during a wait longer than the lease")
}

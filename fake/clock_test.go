package fake

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"
)

var _ clock.WithTicker = (*Clock)(nil)

func TestClockTimers(t *testing.T) {
	c := NewClock(DefaultStartTime())
	timer := c.NewTimer(time.Second)
	tick := c.NewTicker(2 * time.Second)
	var fired atomic.Int32
	done := make(chan struct{})
	c.AfterFunc(3*time.Second, func() { fired.Add(1); close(done) })
	assert.Equal(t, 3, c.Waiters())

	c.Step(999 * time.Millisecond)
	select {
	case <-timer.C():
		t.Fatal("timer fired early")
	default:
	}
	c.Step(time.Millisecond)
	assert.Equal(t, DefaultStartTime().Add(time.Second), <-timer.C())
	c.Step(2 * time.Second)
	assert.Equal(t, DefaultStartTime().Add(3*time.Second), <-tick.C(), "a ticker delivers the latest tick only")
	<-done
	assert.Equal(t, int32(1), fired.Load())
	tick.Stop()
	assert.False(t, c.HasWaiters())
	assert.False(t, timer.Stop())
	assert.False(t, timer.Reset(time.Second))
	assert.True(t, timer.Stop())
}

func TestAutoAdvanceNeedsAParticipant(t *testing.T) {
	c := newTestCluster(t, WithAutoAdvance())
	timer := c.Clock().NewTimer(time.Hour)
	idle(t, c)
	// Many quiet windows pass; with no participant the clock must not move.
	wait := time.NewTimer(30 * time.Millisecond)
	defer wait.Stop()
	select {
	case <-timer.C():
		t.Fatal("time moved with no participant")
	case <-wait.C:
	}
	assert.Equal(t, DefaultStartTime(), c.Clock().Now())
}

func TestAutoAdvanceRunsAnHourOfPausesPromptly(t *testing.T) {
	c := newTestCluster(t, WithAutoAdvance())
	clk := c.Clock()
	idleFn, busy, done := clk.Track()
	// A participant pausing 12 times for 5 minutes, in this goroutine.
	for i := 0; i < 12; i++ {
		pauseAsParticipant(t, clk, idleFn, busy, 5*time.Minute)
	}
	done()
	assert.Equal(t, DefaultStartTime().Add(time.Hour), clk.Now())
}

func TestAutoAdvanceStaysBusy(t *testing.T) {
	c := newTestCluster(t, WithAutoAdvance())
	clk := c.Clock()
	_, _, done := clk.Track() // busy: time must not move
	timer := clk.NewTimer(time.Second)
	wait := time.NewTimer(30 * time.Millisecond)
	defer wait.Stop()
	select {
	case <-timer.C():
		t.Fatal("time moved while a participant was busy")
	case <-wait.C:
	}
	done()
	require.Equal(t, DefaultStartTime(), clk.Now())
}

// TestAfterFuncStopsUntilItsCallbackStarts checks that Stop cancels an
// AfterFunc whose time has come but whose callback has not started, and
// that one it cannot stop runs to the end.
func TestAfterFuncStopsUntilItsCallbackStarts(t *testing.T) {
	cl := newTestCluster(t)
	c := cl.Clock()
	var ran atomic.Int32
	stopped := 0
	for i := 0; i < 200; i++ {
		timer := c.AfterFunc(time.Second, func() { ran.Add(1) })
		c.Step(time.Second)
		if timer.Stop() {
			stopped++
		}
	}
	idle(t, cl)
	t.Logf("%d of 200 callbacks stopped after their time came", stopped)
	assert.Equal(t, 200-stopped, int(ran.Load()), "a stopped callback never runs, any other does")
	assert.Zero(t, c.running.Load())
	assert.False(t, c.HasWaiters())
}

package fake

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// logs collects what WithStallLog is given.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logs) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// stalled waits for the clock's stall report.
func stalled(t *testing.T, clk *Clock) *StallError {
	t.Helper()
	select {
	case <-clk.Stalled():
	case <-testCtx(t).Done():
		t.Fatal("no stall was reported")
	}
	var se *StallError
	require.True(t, errors.As(clk.Stall(), &se), "Stall returns a *StallError: %v", clk.Stall())
	return se
}

func TestStallReports(t *testing.T) {
	tests := map[string]struct {
		// setup makes the stall; it runs with auto-advance on.
		setup func(t *testing.T, c *Cluster)
		// want are parts of the report.
		want []string
	}{
		"idle with no timer": {
			setup: func(t *testing.T, c *Cluster) {
				idle, _, done := c.Clock().TrackNamed("release web")
				t.Cleanup(done)
				idle()
			},
			want: []string{"no timer is pending", `"release web": idle`, "timers (0)"},
		},
		"a participant that never goes idle": {
			setup: func(t *testing.T, c *Cluster) {
				_, _, done := c.Clock().Track()
				t.Cleanup(done)
				c.Clock().AfterFunc(time.Hour, func() {})
			},
			want: []string{"busy participants never went idle: participant 1", "participant 1: busy",
				"2026-01-01T01:00:00Z (in 1h0m0s): AfterFunc made by fake.TestStallReports"},
		},
		"a watch no one reads": {
			setup: func(t *testing.T, c *Cluster) {
				ctx := testCtx(t)
				cms := c.Clients().Kube.CoreV1().ConfigMaps("default")
				w, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: "app=web"})
				require.NoError(t, err)
				t.Cleanup(w.Stop)
				_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"app": "web"}}}, metav1.CreateOptions{})
				require.NoError(t, err)
				idle, _, done := c.Clock().TrackNamed("reader")
				t.Cleanup(done)
				c.Clock().NewTimer(time.Minute)
				idle()
			},
			want: []string{"pending work never ended", "watch of configmaps in default (app=web): 1 events not yet received",
				`"reader": idle`, "(in 1m0s): timer made by fake.TestStallReports"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var l logs
			c := newTestCluster(t, WithStallTimeout(20*time.Millisecond), WithStallLog(l.logf))
			c.Clock().SetAutoAdvance(true)
			tc.setup(t, c)
			se := stalled(t, c.Clock())
			report := se.Error()
			for _, w := range tc.want {
				assert.Contains(t, report, w)
			}
			assert.Equal(t, 20*time.Millisecond, se.For)
			assert.Equal(t, DefaultStartTime(), se.Now)
			assert.Contains(t, l.all(), report, "the report is logged")
		})
	}
}

// TestNoStallWhileTheClockMoves runs an hour of pauses with a stall
// timeout far shorter than the run: time moving is not a stall.
func TestNoStallWhileTheClockMoves(t *testing.T) {
	var l logs
	c := newTestCluster(t, WithAutoAdvance(), WithStallTimeout(20*time.Millisecond), WithStallLog(l.logf))
	clk := c.Clock()
	idleFn, busy, done := clk.TrackNamed("pauser")
	for i := 0; i < 12; i++ {
		pauseAsParticipant(t, clk, idleFn, busy, 5*time.Minute)
	}
	done()
	assert.NoError(t, clk.Stall())
	assert.Empty(t, l.all())
}

func TestStallDetectionOff(t *testing.T) {
	var l logs
	c := newTestCluster(t, WithAutoAdvance(), WithStallTimeout(0), WithStallLog(l.logf))
	idle, _, done := c.Clock().Track()
	defer done()
	idle()
	wait := time.NewTimer(60 * time.Millisecond)
	defer wait.Stop()
	select {
	case <-c.Clock().Stalled():
		t.Fatal("a stall was reported with detection off")
	case <-wait.C:
	}
	assert.NoError(t, c.Clock().Stall())
	assert.Empty(t, l.all())
}

// TestNoStallWithoutParticipants checks that a clock nobody waits on is
// not stalled: nothing is expected of it.
func TestNoStallWithoutParticipants(t *testing.T) {
	c := newTestCluster(t, WithAutoAdvance(), WithStallTimeout(10*time.Millisecond), WithStallLog(nil))
	wait := time.NewTimer(50 * time.Millisecond)
	defer wait.Stop()
	select {
	case <-c.Clock().Stalled():
		t.Fatal("a stall was reported with no participant")
	case <-wait.C:
	}
}

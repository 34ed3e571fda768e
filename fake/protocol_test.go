package fake

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// podCache is a watch cache like internal/objcache: a goroutine applies
// the watch's events, runs its hooks and then wakes its waiters, and
// tells the watch each event was handled before it waits for the next.
type podCache struct {
	mu      sync.Mutex
	ready   map[string]bool
	changed chan struct{}
	hooks   []func()
}

func startPodCache(t *testing.T, c *Cluster, selector string) *podCache {
	t.Helper()
	w, err := c.Clients().Kube.CoreV1().Pods("default").Watch(testCtx(t), metav1.ListOptions{LabelSelector: selector})
	require.NoError(t, err)
	h, ok := w.(EventHandler)
	require.True(t, ok, "the clientset's watches implement EventHandler")
	pc := &podCache{ready: map[string]bool{}, changed: make(chan struct{})}
	go func() {
		defer w.Stop()
		for {
			h.Handled()
			ev, ok := <-w.ResultChan()
			if !ok {
				return
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				continue
			}
			pc.mu.Lock()
			pc.ready[p.Name] = ev.Type != watch.Deleted && podReady(p)
			for _, f := range pc.hooks {
				f()
			}
			close(pc.changed)
			pc.changed = make(chan struct{})
			pc.mu.Unlock()
		}
	}()
	t.Cleanup(w.Stop)
	return pc
}

// onChange registers f to run before waiters are woken.
func (pc *podCache) onChange(f func()) {
	pc.mu.Lock()
	pc.hooks = append(pc.hooks, f)
	pc.mu.Unlock()
}

// view returns the change channel and whether any pod is Ready.
func (pc *podCache) view() (<-chan struct{}, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for _, r := range pc.ready {
		if r {
			return pc.changed, true
		}
	}
	return pc.changed, false
}

// TestJoinProtocolSeesEachChangeAtItsTime runs a participant of the Join
// protocol that waits on a watch cache for a Ready pod and then pauses
// on an AfterFunc, while a ticker no one reads keeps a timer pending
// every 300ms: any moment the clock could not account for would let it
// run ahead of the participant. With no quiet window, the participant
// must still see the pod Ready exactly at its start-up time and wake
// exactly at the end of its pause, every time.
func TestJoinProtocolSeesEachChangeAtItsTime(t *testing.T) {
	runs := 30
	if testing.Short() {
		runs = 5
	}
	for i := 0; i < runs; i++ {
		c := newTestCluster(t, WithAutoAdvance(), WithQuietWindow(0), WithPodStartup(10*time.Second))
		clk := c.Clock()
		ticker := clk.NewTicker(300 * time.Millisecond)
		idle, busy, wake, done := clk.Join("waiter")
		pc := startPodCache(t, c, "app=web")
		pc.onChange(wake)
		start := clk.Now()

		_, err := c.Clients().Kube.AppsV1().Deployments("default").Create(testCtx(t), testDeployment("web", 1, "v1"), metav1.CreateOptions{})
		require.NoError(t, err)
		for {
			busy()
			changed, ready := pc.view()
			if ready {
				break
			}
			if !idle() {
				continue
			}
			select {
			case <-changed:
			case <-testCtx(t).Done():
				t.Fatal("no Ready pod")
			}
		}
		require.Equal(t, start.Add(10*time.Second), clk.Now(), "run %d: the pod turned Ready at its start-up time", i)

		fired := make(chan struct{})
		pause := clk.AfterFunc(time.Minute, func() { wake(); close(fired) })
		for {
			busy()
			if !idle() {
				continue
			}
			break
		}
		<-fired
		busy()
		require.False(t, pause.Stop())
		require.Equal(t, start.Add(10*time.Second+time.Minute), clk.Now(), "run %d: the pause ended on time", i)
		done()
		ticker.Stop()
		c.Stop()
	}
}

func TestJoinIdleFailsAfterAWake(t *testing.T) {
	clk := NewClock(DefaultStartTime())
	idle, busy, wake, done := clk.Join("p")
	defer done()
	assert.True(t, idle(), "nothing woke it")
	busy()
	wake()
	assert.False(t, idle(), "woken since its last busy: it must look again")
	busy()
	assert.True(t, idle())
	wake() // wakes it from idle
	busy()
	assert.True(t, idle())
	done()
	assert.True(t, idle(), "after done nothing counts")
}

// TestHandledKeepsAnEventPending checks that an event received from a
// watch whose consumer calls Handled holds the clock until the next
// Handled.
func TestHandledKeepsAnEventPending(t *testing.T) {
	c := newTestCluster(t, WithAutoAdvance())
	clk := c.Clock()
	ctx := testCtx(t)
	w, err := c.Clients().Kube.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	defer w.Stop()
	h := w.(EventHandler)
	h.Handled()
	_, err = c.Clients().Kube.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "default"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	timer := clk.NewTimer(time.Minute)
	idle, _, done := clk.Track()
	defer done()
	idle()

	<-w.ResultChan() // received, not yet handled
	assertStill(t, clk, timer, "an event received and not handled holds the clock")
	h.Handled()
	select {
	case <-timer.C():
	case <-ctx.Done():
		t.Fatal("the clock never moved after Handled")
	}
}

// TestQueuedEventsHoldTheClock checks that an event queued to a watch and
// not yet received holds the clock, and a stopped watch no longer does.
func TestQueuedEventsHoldTheClock(t *testing.T) {
	c := newTestCluster(t, WithAutoAdvance())
	clk := c.Clock()
	ctx := testCtx(t)
	w, err := c.Clients().Kube.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	_, err = c.Clients().Kube.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "default"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	timer := clk.NewTimer(time.Minute)
	idle, _, done := clk.Track()
	defer done()
	idle()
	assertStill(t, clk, timer, "an event no one received holds the clock")
	w.Stop()
	select {
	case <-timer.C():
	case <-ctx.Done():
		t.Fatal("the clock never moved after the watch stopped")
	}
}

// assertStill checks, over many quiet windows of real time, that timer
// does not fire.
func assertStill(t *testing.T, clk *Clock, timer interface{ C() <-chan time.Time }, msg string) {
	t.Helper()
	before := clk.Now()
	wait := time.NewTimer(30 * time.Millisecond)
	defer wait.Stop()
	select {
	case <-timer.C():
		t.Fatal(msg)
	case <-wait.C:
	}
	assert.Equal(t, before, clk.Now(), msg)
}

// TestDelayedCallIsInFlightBeforeItWakes checks that a call delayed on
// the clock counts as in flight from the moment its delay ends, so the
// clock does not move on before the call has gone on, while a ticker
// keeps a next timer pending.
func TestDelayedCallIsInFlightBeforeItWakes(t *testing.T) {
	c := newTestCluster(t, WithAutoAdvance(), WithQuietWindow(0))
	c.Delay("create", "configmaps", 30*time.Second)
	clk := c.Clock()
	ctx := testCtx(t)
	ticker := clk.NewTicker(300 * time.Millisecond)
	defer ticker.Stop()
	idle, busy, done := clk.Track()
	defer done()
	for i := 0; i < 5; i++ {
		busy()
		start := clk.Now()
		got := make(chan *corev1.ConfigMap, 1)
		go func() {
			cm, err := c.Clients().Kube.CoreV1().ConfigMaps("default").Create(ctx,
				&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i), Namespace: "default"}}, metav1.CreateOptions{})
			assert.NoError(t, err)
			got <- cm
		}()
		// Idle once the call waits on its delay: the ticker and the delay
		// are the clock's only timers.
		for clk.Waiters() < 2 || c.inflight.Load() > 0 {
			select {
			case <-clk.adv.subscribe():
			case <-ctx.Done():
				t.Fatal("the call never started its delay")
			}
		}
		idle()
		select {
		case cm := <-got:
			busy()
			require.NotNil(t, cm)
			require.Equal(t, start.Add(30*time.Second), cm.CreationTimestamp.Time, "run %d: written at the end of its delay", i)
		case <-ctx.Done():
			t.Fatal("the delayed call never returned")
		}
	}
}

package fake

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestAutoAdvanceParticipantWaitsForPodAndTimer runs a participant in the
// test goroutine: it creates a Deployment, waits on a watch for a Ready pod
// (10s start-up), then pauses an hour; the clock does all the waiting.
func TestAutoAdvanceParticipantWaitsForPodAndTimer(t *testing.T) {
	c := newTestCluster(t, WithAutoAdvance(), WithPodStartup(10*time.Second))
	ctx := testCtx(t)
	clk := c.Clock()

	idleFn, busy, done := clk.Track()
	defer done()
	kube := c.Clients().Kube
	_, err := kube.AppsV1().Deployments("default").Create(ctx, testDeployment("web", 1, "v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	w, err := kube.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	require.NoError(t, err)
	defer w.Stop()

	var readyAt time.Time
	for readyAt.IsZero() {
		idleFn()
		var ev watch.Event
		select {
		case ev = <-w.ResultChan():
		case <-ctx.Done():
			t.Fatal("no Ready pod")
		}
		busy()
		if p, ok := ev.Object.(*corev1.Pod); ok && podReady(p) {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady {
					readyAt = cond.LastTransitionTime.Time
				}
			}
		}
	}
	// A raw watch is outside the clock's protocol (nothing marks this
	// participant busy before the event arrives), so the clock may have
	// moved on since: the pod's condition says when it became Ready.
	assert.Equal(t, DefaultStartTime().Add(10*time.Second), readyAt)

	start := clk.Now()
	pauseAsParticipant(t, clk, idleFn, busy, time.Hour)
	assert.Equal(t, start.Add(time.Hour), clk.Now())
}

// TestAutoAdvanceWaitsForDelayedCalls checks that a call blocked in Delay
// lets the clock move to its end.
func TestAutoAdvanceWaitsForDelayedCalls(t *testing.T) {
	c := newTestCluster(t, WithAutoAdvance())
	c.Delay("get", "configmaps", 30*time.Second)
	idleFn, busy, done := c.Clock().Track()
	defer done()
	idleFn() // as a Run does around a call it expects to block
	_, err := c.Clients().Kube.CoreV1().ConfigMaps("default").Get(context.Background(), "x", metav1.GetOptions{})
	busy()
	require.Error(t, err)
	assert.Equal(t, DefaultStartTime().Add(30*time.Second), c.Clock().Now())
}

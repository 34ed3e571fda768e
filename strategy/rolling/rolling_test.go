package rolling_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/rolling"
)

var app = types.NamespacedName{Namespace: "shop", Name: "web"}

func workload(image string) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](3),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
		},
	}}
}

func release(rev string) strategy.Release {
	return strategy.Release{App: app, Revision: rev, Workload: workload("web:" + rev)}
}

type recorder struct {
	mu     sync.Mutex
	events []strategy.Event
}

func (r *recorder) observe(e strategy.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) types() []strategy.EventType {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []strategy.EventType
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}

// whenWaiting returns an observer option and a channel closed the first
// time the run blocks waiting.
func whenWaiting() (strategy.Option, <-chan struct{}) {
	waiting := make(chan struct{})
	var once sync.Once
	return strategy.WithObserver(func(e strategy.Event) {
		if e.Type == strategy.EventWaiting {
			once.Do(func() { close(waiting) })
		}
	}), waiting
}

// writes counts the API requests that change something.
func writes(c *fake.Cluster) int {
	n := 0
	for k, v := range c.Requests() {
		switch k.Verb {
		case "create", "update", "patch", "delete", "deletecollection":
			n += v
		}
	}
	return n
}

func newCluster(t *testing.T) *fake.Cluster {
	t.Helper()
	c := fake.NewCluster(fake.WithAutoAdvance(),
		fake.WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app.Namespace}}))
	t.Cleanup(c.Stop)
	return c
}

func newStrategy(c *fake.Cluster, id string, opts ...strategy.Option) *rolling.Strategy {
	return rolling.New(c.Clients(), rolling.Spec{ProgressDeadline: 5 * time.Minute},
		append([]strategy.Option{strategy.WithClock(c.Clock()), strategy.WithIdentity(id)}, opts...)...)
}

func readyRevision(t *testing.T, c *fake.Cluster) (string, int32) {
	t.Helper()
	d, err := c.Clients().Kube.AppsV1().Deployments(app.Namespace).Get(context.Background(), app.Name, metav1.GetOptions{})
	require.NoError(t, err)
	return d.Spec.Template.Labels[rolling.LabelRevision], d.Status.AvailableReplicas
}

func TestRunRollsOutAndIsIdempotent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newCluster(t)
	var rec recorder
	s := newStrategy(c, "driver-a", strategy.WithObserver(rec.observe))

	res, err := s.Run(ctx, release("v1"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	rev, avail := readyRevision(t, c)
	assert.Equal(t, "v1", rev)
	assert.EqualValues(t, 3, avail)
	assert.Contains(t, rec.types(), strategy.EventStepStarted)
	assert.Contains(t, rec.types(), strategy.EventRunFinished)

	res, err = s.Run(ctx, release("v2"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	assert.Equal(t, "v1", res.Stable, "stable is what served before this release")
	rev, avail = readyRevision(t, c)
	assert.Equal(t, "v2", rev)
	assert.EqualValues(t, 3, avail)

	c.ResetRequests()
	again, err := s.Run(ctx, release("v2"))
	require.NoError(t, err)
	assert.Equal(t, res.Finished, again.Finished, "a finished release returns its recorded result")
	assert.Zero(t, writes(c), "and writes nothing: %v", c.Requests())

	st, err := strategy.NewControl(c.Clients().Kube).Status(ctx, app)
	require.NoError(t, err)
	require.Len(t, st.History, 2)
	assert.Empty(t, st.Lease.Holder, "the lease is released at the end")
}

func TestProgressDeadlineRollsBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newCluster(t)
	s := newStrategy(c, "driver-a")
	_, err := s.Run(ctx, release("v1"))
	require.NoError(t, err)

	c.SetBehavior("v2", fake.Behavior{NeverReady: true})
	start := c.Clock().Now()
	res, err := s.Run(ctx, release("v2"))
	require.ErrorIs(t, err, strategy.ErrProgressDeadline)
	assert.Equal(t, strategy.PhaseFailed, res.Phase)
	assert.Equal(t, start.Add(5*time.Minute), res.Finished, "the deadline is exact")
	require.NoError(t, c.WaitIdle(ctx))

	// Let the rollback finish rolling.
	require.Eventually(t, func() bool {
		rev, avail := readyRevision(t, c)
		return rev == "v1" && avail == 3
	}, 10*time.Second, time.Millisecond)
}

func TestAbortAndPauseFromAnotherProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newCluster(t)
	s := newStrategy(c, "driver-a")
	_, err := s.Run(ctx, release("v1"))
	require.NoError(t, err)

	c.SetBehavior("v2", fake.Behavior{NeverReady: true})
	obs, waiting := whenWaiting()
	s2 := newStrategy(c, "driver-a", obs)
	done := make(chan *strategy.Result, 1)
	go func() {
		res, _ := s2.Run(ctx, release("v2"))
		done <- res
	}()
	<-waiting
	control := strategy.NewControl(c.Clients().Kube, strategy.WithClock(c.Clock()), strategy.WithIdentity("operator"))
	require.NoError(t, control.Pause(ctx, app))
	require.Eventually(t, func() bool {
		st, err := control.Status(ctx, app)
		return err == nil && st.Phase == strategy.PhasePaused
	}, 10*time.Second, time.Millisecond)
	require.ErrorIs(t, control.Pause(ctx, app), strategy.ErrNotApplicable)
	require.ErrorIs(t, control.Undo(ctx, app, "v9"), strategy.ErrUnknownRevision)

	require.NoError(t, control.Abort(ctx, app))
	res := <-done
	require.NotNil(t, res)
	assert.Equal(t, strategy.PhaseAborted, res.Phase)
	assert.Contains(t, res.Message, "aborted by operator")
	require.ErrorIs(t, res.Err(), strategy.ErrAborted)

	// Retry runs the same revision again; it is healthy now.
	c.SetBehavior("v2", fake.Behavior{})
	require.NoError(t, control.Retry(ctx, app))
	res, err = s.Run(ctx, release("v2"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
}

func TestAbandonedRunIsTakenOverAndCompletes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newCluster(t)
	c.SetBehavior("v1", fake.Behavior{NeverReady: true})

	obs, waiting := whenWaiting()
	runCtx, crash := context.WithCancel(ctx)
	a := newStrategy(c, "driver-a", obs)
	done := make(chan error, 1)
	go func() { _, err := a.Run(runCtx, release("v1")); done <- err }()
	<-waiting
	crash() // the process dies mid-step: no cleanup, the lease stays
	require.ErrorIs(t, <-done, context.Canceled)

	b := newStrategy(c, "driver-b")
	_, err := b.Run(ctx, release("v1"))
	require.ErrorIs(t, err, strategy.ErrLocked)

	c.SetBehavior("v1", fake.Behavior{})
	c.Clock().Step(strategy.DefaultLeaseDuration)
	res, err := b.Run(ctx, release("v1"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	st, err := strategy.NewControl(c.Clients().Kube).Status(ctx, app)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Step, "driver-b resumed at the recorded step, it did not start over")
	events, err := c.Clients().Kube.CoreV1().Events(app.Namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	var takeover []string
	for _, e := range events.Items {
		if e.Reason == string(strategy.EventTakenOver) {
			takeover = append(takeover, e.Message)
		}
	}
	require.Len(t, takeover, 1, "a takeover is recorded as a corev1 Event")
	assert.Contains(t, takeover[0], "taken over from driver-a")
}

func TestBadInputWritesNothing(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	s := newStrategy(c, "driver-a")
	bad := release("v1")
	bad.Workload.Spec.Selector.MatchLabels = map[string]string{"app": "other"}
	bad.Revision = "bad revision"
	c.ResetRequests()
	_, err := s.Run(ctx, bad)
	var ve *strategy.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.True(t, ve.Has("release.revision"))
	assert.True(t, ve.Has("release.workload.spec.selector"))
	assert.Zero(t, c.Requests().Total(), "validation happens before any request")
}

func TestTransientErrorsAreRetriedWhileTheClockMoves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newCluster(t)
	c.FailRequests("patch", "deployments", apierrors.NewServiceUnavailable("apiserver restarting"), 3)
	c.Conflicts("update", "configmaps", 2)
	var retries int
	s := newStrategy(c, "driver-a", strategy.WithObserver(func(e strategy.Event) {
		if e.Type == strategy.EventRetrying {
			retries++
		}
	}))
	start := c.Clock().Now()
	res, err := s.Run(ctx, release("v1"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	assert.GreaterOrEqual(t, retries, 3, "each 503 is retried after a backoff")
	assert.Greater(t, c.Clock().Now().Sub(start), time.Duration(0), "the backoff waited on the fake clock")
}

package kube_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/analysis/kube"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/participant"
	"github.com/switchyard-dev/switchyard/strategy"
)

var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func deployment(slot, revision string) *appsv1.Deployment {
	sel := map[string]string{"app": "cart", strategy.LabelSlot: slot}
	pod := map[string]string{"app": "cart", strategy.LabelSlot: slot, strategy.LabelRevision: revision}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "cart-" + slot},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: pod},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "cart:" + revision}}},
			},
		},
	}
}

// cluster runs the stable slot (blue, v1) and the candidate (green, v2),
// two pods each, all Ready.
func cluster(t *testing.T, opts ...fake.Option) *fake.Cluster {
	c := fake.NewCluster(append([]fake.Option{fake.WithStartTime(t0), fake.WithObjects(deployment("blue", "v1"), deployment("green", "v2"))}, opts...)...)
	t.Cleanup(c.Stop)
	settle(t, c, time.Second)
	require.Len(t, pods(t, c, "green", true), 2)
	return c
}

// settle moves the clock by d and waits for the controllers.
func settle(t *testing.T, c *fake.Cluster, d time.Duration) {
	t.Helper()
	require.NoError(t, c.WaitIdle(context.Background()))
	c.Clock().Step(d)
	require.NoError(t, c.WaitIdle(context.Background()))
}

// pods lists a slot's pods, only the Ready ones when ready is set.
func pods(t *testing.T, c *fake.Cluster, slot string, ready bool) []corev1.Pod {
	t.Helper()
	l, err := c.Clients().Kube.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: strategy.LabelSlot + "=" + slot})
	require.NoError(t, err)
	var out []corev1.Pod
	for _, p := range l.Items {
		if !ready || isReady(p) {
			out = append(out, p)
		}
	}
	return out
}

func isReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func restarts(ps []corev1.Pod) float64 {
	var n int32
	for _, p := range ps {
		for _, cs := range p.Status.ContainerStatuses {
			n += cs.RestartCount
		}
	}
	return float64(n)
}

func query(c *fake.Cluster) analysis.Query {
	return analysis.Query{
		Vars:  analysis.Vars{Namespace: "default", App: "cart", Slot: "cart-green"},
		Input: strategy.CheckInput{Clients: c.Clients(), Clock: c.Clock()},
	}
}

func open(t *testing.T, p *kube.Provider, c *fake.Cluster) analysis.Provider {
	t.Helper()
	s, err := p.Open(context.Background(), query(c))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.(interface{ Close() error }).Close() })
	return s
}

func measure(t *testing.T, s analysis.Provider, c *fake.Cluster) analysis.Result {
	t.Helper()
	r, err := s.Measure(context.Background(), query(c))
	require.NoError(t, err)
	return r
}

func TestRestartsSinceTheStart(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	c.SetBehavior("v2", fake.Behavior{CrashLoop: true})
	c.SetBehavior("v1", fake.Behavior{CrashLoop: true}) // the stable slot's restarts never count
	settle(t, c, 30*time.Second)
	before := restarts(pods(t, c, "green", false))
	require.Positive(t, before, "the candidate crashed before the analysis started")

	s := open(t, kube.Restarts(), c)
	r := measure(t, s, c)
	assert.Equal(t, 0.0, r.Value, "restarts before the start do not count")
	assert.Equal(t, c.Clock().Now(), r.Time)

	settle(t, c, 2*time.Minute)
	now := restarts(pods(t, c, "green", false))
	require.Greater(t, now, before)
	r = measure(t, s, c)
	assert.Equal(t, now-before, r.Value)
	assert.Contains(t, r.Reason, " restarts")
	assert.Contains(t, r.Raw, "2 pods matching app=cart,switchyard.dev/slot=green")
}

func TestReadinessFlaps(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	s := open(t, kube.ReadinessFlaps(), c)
	assert.Equal(t, 0.0, measure(t, s, c).Value)

	c.SetBehavior("v2", fake.Behavior{NeverReady: true})
	settle(t, c, 0)
	require.Empty(t, pods(t, c, "green", true))
	assert.Equal(t, 2.0, measure(t, s, c).Value, "both pods went from Ready to not Ready")

	c.SetBehavior("v2", fake.Behavior{})
	settle(t, c, time.Second)
	require.Len(t, pods(t, c, "green", true), 2)
	assert.Equal(t, 2.0, measure(t, s, c).Value, "turning Ready again is no flap")

	// A flap between two measurements is seen by the watch.
	c.SetBehavior("v2", fake.Behavior{NeverReady: true})
	settle(t, c, 0)
	c.SetBehavior("v2", fake.Behavior{})
	settle(t, c, time.Second)
	require.Len(t, pods(t, c, "green", true), 2)
	r := measure(t, s, c)
	assert.Equal(t, 4.0, r.Value, "the measurement waits for the watch to catch up with the list")
	assert.Contains(t, r.Raw, ": 2")
}

func TestDroppedWatchIsRestarted(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	s := open(t, kube.ReadinessFlaps(), c)
	c.DropWatches("pods")
	c.SetBehavior("v2", fake.Behavior{NeverReady: true})
	settle(t, c, 0)
	assert.Equal(t, 2.0, measure(t, s, c).Value, "the list still shows the pods went not Ready")

	c.SetBehavior("v2", fake.Behavior{})
	settle(t, c, time.Second)
	c.SetBehavior("v2", fake.Behavior{NeverReady: true})
	settle(t, c, 0)
	c.SetBehavior("v2", fake.Behavior{})
	settle(t, c, time.Second)
	assert.Equal(t, 4.0, measure(t, s, c).Value, "the new watch saw the next flap")
}

func TestSelector(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	s := open(t, kube.ReadinessFlaps(kube.WithSelector(map[string]string{strategy.LabelRevision: "v1"})), c)
	c.SetBehavior("v2", fake.Behavior{NeverReady: true})
	c.SetBehavior("v1", fake.Behavior{NeverReady: true})
	settle(t, c, 0)
	r := measure(t, s, c)
	assert.Equal(t, 2.0, r.Value, "only the selected (v1) pods count")
	assert.Contains(t, r.Raw, "matching switchyard.dev/revision=v1")
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	q := query(c)
	q.Vars.Slot = "cart-red"
	_, err := kube.Restarts().Open(context.Background(), q)
	require.ErrorContains(t, err, "reading the slot Deployment")

	q.Vars.Slot = ""
	_, err = kube.Restarts().Open(context.Background(), q)
	require.ErrorContains(t, err, "no slot Deployment")

	_, err = kube.Restarts().Measure(context.Background(), q)
	require.Error(t, err, "measuring needs Open")
}

func TestValidate(t *testing.T) {
	t.Parallel()
	var v strategy.Validator
	kube.Restarts(kube.WithSelector(map[string]string{"bad key!": "x"})).Validate(&v, "m", "")
	var ve *strategy.ValidationError
	require.True(t, errors.As(v.Err(), &ve))
	assert.True(t, ve.Has("m.provider.kube.selector"), ve.Error())

	v = strategy.Validator{}
	kube.Restarts(kube.WithSelector(map[string]string{"app": "cart"})).Validate(&v, "m", "")
	require.NoError(t, v.Err())
}

func TestCrashLoopingCandidateFailsTheAnalysis(t *testing.T) {
	t.Parallel()
	c := cluster(t)
	c.SetBehavior("v2", fake.Behavior{CrashLoop: true})
	settle(t, c, 0)
	c.Clock().SetAutoAdvance(true)
	// The analysis runs as a participant, the way a driver runs a check:
	// busy while it works, waiting while it waits on its clock or through
	// CheckInput.Idle.
	g := participant.Go(c.Clock())
	defer g.Done()

	a := analysis.Analysis{Name: "health", Metrics: []analysis.Metric{{
		Name: "restarts", Provider: kube.Restarts(), Interval: time.Minute, Count: 5, Failure: analysis.Above(0),
	}}}
	in := strategy.CheckInput{Clients: c.Clients(), Clock: g, Idle: g.Idle, Slot: "cart-green",
		Release: strategy.Release{App: types.NamespacedName{Namespace: "default", Name: "cart"}, Revision: "v2"}}
	rep, err := a.Run(context.Background(), in)
	require.NoError(t, err)
	assert.Equal(t, analysis.PhaseFailed, rep.Phase)
	m := rep.Metrics[0]
	assert.Equal(t, 0.0, m.Measurements[0].Value, "nothing restarted at the start")
	assert.Equal(t, 2, m.Count, "the second measurement saw restarts")
	assert.Regexp(t, `^metric restarts failed 1 of 2 times \(limit 0\): result \d+ > 0$`, rep.Message)
}

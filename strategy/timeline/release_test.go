package timeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// testTimeout bounds each release; every wait is on a watch or the fake
// clock.
const testTimeout = 60 * time.Second

// web is the app the releases ship.
var web = types.NamespacedName{Namespace: "default", Name: "web"}

// scenario is a canary release of v2 on a fake cluster, as in
// examples/canary: 50 replicas behind one Service, 2%, 25%, 75% and 100%
// of the traffic, an analysis of the error ratio after 2% and after 25%,
// a minute's pause at 25% that a person extends with Pause and Resume,
// and a pause at 75% until a person's Promote, all sent by "oncall" from
// another goroutine while the release runs.
type scenario struct {
	t       *testing.T
	ctx     context.Context
	c       *fake.Cluster
	control *strategy.Control
}

func newScenario(t *testing.T) *scenario {
	t.Helper()
	c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithPodStartup(5*time.Second))
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(func() { cancel(); c.Stop() })
	return &scenario{t: t, ctx: ctx, c: c,
		control: strategy.NewControl(c.Clients().Kube, strategy.WithClock(c.Clock()), strategy.WithIdentity("oncall"))}
}

// strategy is the canary of the scenario.
func (s *scenario) strategy() *canary.Strategy {
	check := canary.Analysis{Checks: []strategy.Check{errorRatio(s.c).Check()}}
	return canary.New(s.c.Clients(), canary.Spec{
		StableService: "web",
		ServicePorts:  []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		Steps: []canary.Step{
			canary.SetWeight{Percent: 2}, check,
			canary.SetWeight{Percent: 25}, canary.Pause{Duration: time.Minute}, check,
			canary.SetWeight{Percent: 75}, canary.Pause{},
			canary.SetWeight{Percent: 100},
		},
		DynamicStableScale: true,
	}, strategy.WithClock(s.c.Clock()), strategy.WithIdentity("deployer"))
}

// run ships v1, then v2 while a person steers it, and returns v2's status.
func (s *scenario) run() *strategy.Status {
	s.t.Helper()
	s.c.SetBehavior("v2", fake.Behavior{ErrorRate: 0.01})
	defer s.c.SendLoad(fake.Entry{Kind: fake.EntryService, Namespace: web.Namespace, Name: web.Name}, 200, fake.Request{})()
	st := s.strategy()
	_, err := st.Run(s.ctx, release("v1"))
	require.NoError(s.t, err)

	steered := make(chan error, 1)
	go func() { steered <- s.steer() }()
	res, err := st.Run(s.ctx, release("v2"))
	require.NoError(s.t, err)
	require.Equal(s.t, strategy.PhaseSucceeded, res.Phase)
	require.NoError(s.t, <-steered)
	status, err := s.control.Status(s.ctx, web)
	require.NoError(s.t, err)
	return status
}

// steer is the person: Pause during the minute's pause at 25%, Resume 30
// seconds later, and Promote 45 seconds into the pause at 75%.
func (s *scenario) steer() error {
	if err := s.when(func(st *strategy.Status) bool { return st.Revision == "v2" && st.StepName == "3-Pause" }, 0,
		func() error { return s.control.Pause(s.ctx, web) }); err != nil {
		return err
	}
	if err := s.when(func(st *strategy.Status) bool { return st.Phase == strategy.PhasePaused }, 30*time.Second,
		func() error { return s.control.Resume(s.ctx, web) }); err != nil {
		return err
	}
	return s.when(func(st *strategy.Status) bool { return st.StepName == "6-Pause" && st.Phase == strategy.PhasePaused },
		45*time.Second, func() error { return s.control.Promote(s.ctx, web) })
}

// when waits until cond holds, then until after has passed on the clock,
// and does act. The clock is held from the moment the wait is over until
// act is done, so that the release does not move on meanwhile.
func (s *scenario) when(cond func(*strategy.Status) bool, after time.Duration, act func() error) error {
	idle, busy, done := s.c.Clock().TrackNamed("oncall")
	defer done()
	idle()
	var since time.Time
	_, err := s.control.Await(s.ctx, web, func(st *strategy.Status) bool {
		if since.IsZero() && cond(st) {
			since = st.Updated
		}
		if since.IsZero() || st.Updated.Sub(since) < after {
			return false
		}
		busy()
		return true
	})
	if err != nil {
		return err
	}
	return act()
}

// errorRatio is examples/canary's analysis: three measurements of the
// canary's error ratio 20 seconds apart, each at most 5%.
func errorRatio(c *fake.Cluster) analysis.Analysis {
	return analysis.Analysis{Name: "error-ratio", Metrics: []analysis.Metric{{
		Name:  "error-ratio",
		Query: "{{.Revision}}",
		Provider: analysis.Func(func(_ context.Context, q analysis.Query) (analysis.Result, error) {
			ratio, ok := c.Metrics().ErrorRatio(q.Text, 20*time.Second)
			return analysis.Result{Value: ratio, NoData: !ok}, nil
		}),
		InitialDelay: 20 * time.Second,
		Interval:     20 * time.Second,
		Count:        3,
		Success:      analysis.Expr("result <= 0.05"),
	}}}
}

func release(rev string) strategy.Release {
	labels := map[string]string{"app": web.Name}
	return strategy.Release{App: web, Revision: rev, Workload: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](50),
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:" + rev,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		},
	}}}
}

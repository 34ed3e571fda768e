package bluegreen_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/internal/testkit"
	"github.com/switchyard-dev/switchyard/strategy"
)

var app = types.NamespacedName{Namespace: "shop", Name: "web"}

func workload(rev string) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](3),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:" + rev,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		},
	}}
}

func release(rev string) strategy.Release {
	return strategy.Release{App: app, Revision: rev, Workload: workload(rev)}
}

func activeService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: app.Namespace},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
}

func namespaceAndService() []runtime.Object {
	return []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app.Namespace}}, activeService()}
}

func newCluster(t *testing.T, objs ...runtime.Object) *fake.Cluster {
	t.Helper()
	c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithObjects(append(namespaceAndService(), objs...)...))
	t.Cleanup(c.Stop)
	return c
}

func baseSpec() bluegreen.Spec {
	return bluegreen.Spec{ActiveService: "web", PreviewService: "web-preview"}
}

func newStrategy(c *fake.Cluster, spec bluegreen.Spec, id string, opts ...strategy.Option) *bluegreen.Strategy {
	return bluegreen.New(c.Clients(), spec, append([]strategy.Option{strategy.WithClock(c.Clock()), strategy.WithIdentity(id)}, opts...)...)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// slotState is what the cluster says about one slot.
type slotState struct {
	Revision  string
	Replicas  int32
	Available int32
}

// endState is what every test asserts at its end: both slots, the
// Services' slots, and the record.
type endState struct {
	Blue, Green   slotState
	Active        string
	Preview       string
	Phase         strategy.Phase
	Revision      string
	Stable        string
	RecordPending int
}

func observe(t *testing.T, c *fake.Cluster) endState {
	t.Helper()
	ctx := testCtx(t)
	require.NoError(t, c.WaitIdle(ctx))
	kube := c.Clients().Kube
	slot := func(name string) slotState {
		d, err := kube.AppsV1().Deployments(app.Namespace).Get(ctx, slots.Name(app.Name, name), metav1.GetOptions{})
		if err != nil {
			return slotState{}
		}
		pods, err := kube.CoreV1().Pods(app.Namespace).List(ctx, metav1.ListOptions{LabelSelector: strategy.LabelSlot + "=" + name})
		require.NoError(t, err)
		var ready int32
		for _, p := range pods.Items {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
					ready++
				}
			}
		}
		return slotState{Revision: d.Spec.Template.Labels[strategy.LabelRevision], Replicas: ptr.Deref(d.Spec.Replicas, 1), Available: ready}
	}
	selects := func(name string) string {
		svc, err := kube.CoreV1().Services(app.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return svc.Spec.Selector[strategy.LabelSlot]
	}
	st, err := strategy.NewControl(kube).Status(ctx, app)
	require.NoError(t, err)
	return endState{Blue: slot(bluegreen.Blue), Green: slot(bluegreen.Green), Active: selects("web"), Preview: selects("web-preview"),
		Phase: st.Phase, Revision: st.Revision, Stable: st.Stable, RecordPending: len(st.Pending)}
}

// signal closes a channel the first time an event of type typ is seen.
func signal(typ strategy.EventType) (strategy.Option, <-chan struct{}) {
	ch := make(chan struct{})
	var once sync.Once
	return strategy.WithObserver(func(e strategy.Event) {
		if e.Type == typ {
			once.Do(func() { close(ch) })
		}
	}), ch
}

// waitPhase waits, on the record's watch, until the release reaches phase.
func waitPhase(t *testing.T, c *fake.Cluster, phase strategy.Phase) {
	t.Helper()
	testkit.WaitPhase(t, testCtx(t), c, app, phase)
}

func unstructuredObjects(t *testing.T, objs ...runtime.Object) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		require.NoError(t, err)
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

// readyLog records the fewest ready endpoints a Service had, from its own
// watch, independent of the strategy, counted from the moment waitMinimum
// saw the Service fully served.
type readyLog struct {
	mu      sync.Mutex
	least   int
	current int
	armed   bool
	changed chan struct{}
}

func (l *readyLog) min() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.least
}

func watchReadyEndpoints(t *testing.T, c *fake.Cluster, service string) *readyLog {
	t.Helper()
	ctx := testCtx(t)
	w, err := c.Clients().Kube.DiscoveryV1().EndpointSlices(app.Namespace).Watch(ctx,
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	require.NoError(t, err)
	l := &readyLog{least: -1, changed: make(chan struct{})}
	slices := map[string]int{}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok {
				continue
			}
			n := 0
			for _, ep := range s.Endpoints {
				if ptr.Deref(ep.Conditions.Ready, false) {
					n++
				}
			}
			slices[s.Name] = n
			if ev.Type == watch.Deleted {
				delete(slices, s.Name)
			}
			total := 0
			for _, v := range slices {
				total += v
			}
			l.mu.Lock()
			l.current = total
			if l.armed && total < l.least {
				l.least = total
			}
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
		}
	}()
	return l
}

// waitMinimum waits until the Service has n ready endpoints.
func waitMinimum(t *testing.T, l *readyLog, n int) {
	t.Helper()
	ctx := testCtx(t)
	for {
		l.mu.Lock()
		cur, ch := l.current, l.changed
		if cur >= n {
			l.armed, l.least = true, cur
		}
		l.mu.Unlock()
		if cur >= n {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("the Service never had %d ready endpoints", n)
		}
	}
}

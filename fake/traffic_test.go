package fake

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var webEntry = Entry{Kind: EntryService, Namespace: "default", Name: "web"}

// versionDeployment runs replicas pods of version labelled app=web and
// track=version.
func versionDeployment(version string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": "web", "track": version}
	pod := map[string]string{"app": "web", "track": version, DefaultVersionLabel: version}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + version, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: pod},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "example.com/app:" + version,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}}},
			},
		},
	}
}

func testService(name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: selector,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
}

// startWeb runs web-v1 and web-v2 with the given replicas behind Service
// web (selecting both), web-v1 and web-v2, and waits for the pods to start.
func startWeb(t testing.TB, c *Cluster, v1, v2 int32) {
	t.Helper()
	ctx := context.Background()
	kube := c.Clients().Kube
	for _, d := range []*appsv1.Deployment{versionDeployment("v1", v1), versionDeployment("v2", v2)} {
		_, err := kube.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	for _, s := range []*corev1.Service{
		testService("web", map[string]string{"app": "web"}),
		testService("web-v1", map[string]string{"app": "web", "track": "v1"}),
		testService("web-v2", map[string]string{"app": "web", "track": "v2"}),
	} {
		_, err := kube.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	step(t, c, 0)
	step(t, c, time.Second)
}

// steps moves the clock n times by d, waiting for the controllers between.
func steps(t testing.TB, c *Cluster, n int, d time.Duration) {
	t.Helper()
	for range n {
		step(t, c, d)
	}
}

func TestTrafficServiceSplitsOverReadyPods(t *testing.T) {
	c := newTestCluster(t)
	startWeb(t, c, 3, 1)
	c.ResetRequests()
	c.FailRequests("*", "*", nil, 0) // the data plane is not an API client

	got, err := c.Traffic(testCtx(t), webEntry, Request{})
	require.NoError(t, err)
	assert.Equal(t, Share{Serve: map[string]float64{"v1": 0.75, "v2": 0.25}, Mirror: map[string]float64{}}, got)
	assert.Zero(t, c.Requests().Total(), "Traffic makes no API requests")

	_, err = c.Traffic(testCtx(t), Entry{Kind: EntryService, Namespace: "default", Name: "nope"}, Request{})
	assert.True(t, apierrors.IsNotFound(err), "%v", err)
	_, err = c.Traffic(testCtx(t), Entry{Kind: "Gateway", Namespace: "default", Name: "web"}, Request{})
	assert.True(t, errors.Is(err, ErrUnknownEntryKind), "%v", err)
}

func TestTrafficHTTPRouteWeights(t *testing.T) {
	c := newTestCluster(t)
	ctx := testCtx(t)
	dyn := c.Clients().Dynamic
	// As callers do: install the Gateway API CRD, then create routes.
	_, err := dyn.Resource(crdGVR).Create(ctx, crd("gateway.networking.k8s.io", "HTTPRoute", "httproutes", "Namespaced", "v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	idle(t, c)
	startWeb(t, c, 2, 2)

	routes := schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": "web", "namespace": "default"},
		"spec": map[string]any{"rules": []any{
			map[string]any{
				"matches":     []any{map[string]any{"headers": []any{map[string]any{"name": "X-Canary", "value": "always"}}}},
				"backendRefs": []any{map[string]any{"name": "web-v2", "port": int64(80)}},
			},
			map[string]any{
				"filters": []any{map[string]any{"type": "RequestMirror", "requestMirror": map[string]any{
					"backendRef": map[string]any{"name": "web-v2", "port": int64(80)}, "percent": int64(50)}}},
				"backendRefs": []any{
					map[string]any{"name": "web-v1", "port": int64(80), "weight": int64(90)},
					map[string]any{"name": "web-v2", "port": int64(80), "weight": int64(10)},
				}},
		}},
	}}
	_, err = dyn.Resource(routes).Namespace("default").Create(ctx, route, metav1.CreateOptions{})
	require.NoError(t, err)

	entry := Entry{Kind: EntryHTTPRoute, Namespace: "default", Name: "web"}
	got, err := c.Traffic(ctx, entry, Request{})
	require.NoError(t, err)
	assert.InDelta(t, 0.9, got.Serve["v1"], 1e-12)
	assert.InDelta(t, 0.1, got.Serve["v2"], 1e-12)
	assert.Zero(t, got.Unserved)
	assert.Equal(t, map[string]float64{"v2": 0.5}, got.Mirror)

	got, err = c.Traffic(ctx, entry, Request{Headers: map[string]string{"x-canary": "always"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"v2": 1}, got.Serve)

	// The load follows the route: 90/10 of 100 rps for a minute, and v2
	// also gets copies of half the requests.
	stop := c.SendLoad(entry, 100, Request{})
	defer stop()
	steps(t, c, 60, time.Second)
	m := c.Metrics()
	assert.InDelta(t, 5400, m.Requests("v1"), 1e-6)
	assert.InDelta(t, 600+3000, m.Requests("v2"), 1e-6)
	assert.InDelta(t, 60, m.RequestRate("v2", time.Minute), 1e-9)
	assert.Zero(t, m.Requests(UnservedVersion))
}

func TestSendLoadErrorRatio(t *testing.T) {
	for name, stepSize := range map[string]time.Duration{"1s steps": time.Second, "one step": time.Minute, "7s steps": 7 * time.Second} {
		t.Run(name, func(t *testing.T) {
			c := newTestCluster(t)
			startWeb(t, c, 3, 1)
			c.SetBehavior("v1", Behavior{Latency: 100 * time.Millisecond})
			c.SetBehavior("v2", Behavior{ErrorRate: 0.2, Latency: 300 * time.Millisecond})
			c.ResetRequests()
			stop := c.SendLoad(webEntry, 100, Request{})
			defer stop()
			for elapsed := time.Duration(0); elapsed < time.Minute; elapsed += stepSize {
				step(t, c, min(stepSize, time.Minute-elapsed))
			}

			m := c.Metrics()
			assert.Equal(t, 4500.0, m.Requests("v1"))
			assert.Equal(t, 1500.0, m.Requests("v2"))
			assert.InDelta(t, 300, m.Errors("v2"), 1e-9)
			assert.Zero(t, m.Errors("v1"))
			ratio, ok := m.ErrorRatio("v2", time.Minute)
			require.True(t, ok)
			assert.InDelta(t, 0.2, ratio, 1e-9)
			ratio, ok = m.ErrorRatio("v1", time.Minute)
			assert.True(t, ok)
			assert.Zero(t, ratio)
			assert.InDelta(t, 75, m.RequestRate("v1", time.Minute), 1e-9)
			assert.InDelta(t, 25, m.RequestRate("v2", 30*time.Second), 1e-9)
			assert.Equal(t, []string{"v1", "v2"}, m.Versions())

			// Latency: up to 32 samples per version and second.
			assert.Len(t, m.LatencySamples("v1", time.Minute), 60*32)
			assert.Len(t, m.LatencySamples("v2", time.Minute), 1500)
			p50, ok := m.LatencyQuantile("v2", 0.5, time.Minute)
			require.True(t, ok)
			assert.InDelta(t, float64(300*time.Millisecond), float64(p50), float64(20*time.Millisecond))
			p99, _ := m.LatencyQuantile("v2", 0.99, time.Minute)
			assert.Greater(t, p99, p50)
			_, ok = m.LatencyQuantile("v2", 1.5, time.Minute)
			assert.False(t, ok)

			assert.Zero(t, c.Requests().Total(), "the load is not API traffic")
			assert.Equal(t, uint64(1), c.traffic.routed.Load(), "nothing changed: the share is computed once")
		})
	}
}

func TestSendLoadNotReadyServesNothing(t *testing.T) {
	c := newTestCluster(t)
	c.SetBehavior("v2", Behavior{NeverReady: true, ErrorRate: 1})
	startWeb(t, c, 3, 2)
	got, err := c.Traffic(testCtx(t), webEntry, Request{})
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"v1": 1}, got.Serve)

	stop := c.SendLoad(webEntry, 10, Request{})
	defer stop()
	steps(t, c, 10, time.Second)
	m := c.Metrics()
	assert.Equal(t, 100.0, m.Requests("v1"))
	assert.Zero(t, m.Requests("v2"))
	_, ok := m.ErrorRatio("v2", time.Minute)
	assert.False(t, ok, "no requests, no data")

	// With no ready pod left, everything fails as unserved.
	c.SetBehavior("v1", Behavior{NeverReady: true})
	step(t, c, 0)
	got, err = c.Traffic(testCtx(t), webEntry, Request{})
	require.NoError(t, err)
	assert.Empty(t, got.Serve)
	assert.Equal(t, 1.0, got.Unserved)
	steps(t, c, 10, time.Second)
	assert.Equal(t, 100.0, m.Requests("v1"))
	assert.Equal(t, 100.0, m.Requests(UnservedVersion))
	assert.Equal(t, 100.0, m.Errors(UnservedVersion))
	ratio, ok := m.ErrorRatio(UnservedVersion, 10*time.Second)
	assert.True(t, ok)
	assert.Equal(t, 1.0, ratio)
	assert.Empty(t, m.LatencySamples(UnservedVersion, time.Minute))
}

func TestSendLoadFollowsChanges(t *testing.T) {
	c := newTestCluster(t)
	startWeb(t, c, 3, 1)
	m := c.Metrics()
	stop := c.SendLoad(webEntry, 100, Request{})
	defer stop()
	steps(t, c, 60, time.Second)

	// A behaviour change shows in the next window only.
	c.SetBehavior("v2", Behavior{ErrorRate: 0.5})
	steps(t, c, 60, time.Second)
	ratio, _ := m.ErrorRatio("v2", time.Minute)
	assert.InDelta(t, 0.5, ratio, 1e-9)
	ratio, _ = m.ErrorRatio("v2", 2*time.Minute)
	assert.InDelta(t, 0.25, ratio, 1e-9)
	assert.InDelta(t, 750, m.Errors("v2"), 1e-9)

	// Scaling v2 up to 3 pods: 50/50 once they are Ready (1s start-up).
	d := getDeployment(t, c, "web-v2")
	d.Spec.Replicas = ptr.To[int32](3)
	_, err := c.Clients().Kube.AppsV1().Deployments("default").Update(context.Background(), d, metav1.UpdateOptions{})
	require.NoError(t, err)
	steps(t, c, 61, time.Second)
	assert.InDelta(t, 50, m.RequestRate("v2", time.Minute), 1e-9)
	assert.InDelta(t, 50, m.RequestRate("v1", time.Minute), 1e-9)
	// The start-up second still went 75/25.
	assert.InDelta(t, 2*4500+75+3000, m.Requests("v1"), 1e-6)

	// Stopped: nothing more is booked.
	stop()
	stop()
	before := m.Requests("v1")
	steps(t, c, 5, time.Second)
	assert.Equal(t, before, m.Requests("v1"))
}

func TestSendLoadEdgeCases(t *testing.T) {
	c := newTestCluster(t)
	startWeb(t, c, 1, 1)
	m := c.Metrics()

	// A missing entry fails every request.
	stop := c.SendLoad(Entry{Kind: EntryService, Namespace: "default", Name: "nope"}, 10, Request{})
	step(t, c, 2*time.Second)
	stop()
	assert.Equal(t, 20.0, m.Errors(UnservedVersion))

	// Nothing for a non-positive rate.
	c.SendLoad(webEntry, 0, Request{})()
	c.SendLoad(webEntry, math.NaN(), Request{})()

	// Moving the clock back books nothing; the load resumes from there.
	stop = c.SendLoad(webEntry, 10, Request{})
	defer stop()
	step(t, c, time.Second)
	c.Clock().SetTime(c.Clock().Now().Add(-time.Hour))
	step(t, c, time.Second)
	assert.Equal(t, 10.0, m.Requests("v1"))

	// Two loads add up; the second starts now.
	stop2 := c.SendLoad(webEntry, 30, Request{})
	defer stop2()
	step(t, c, time.Second)
	assert.Equal(t, 30.0, m.Requests("v1"))
	assert.InDelta(t, 20, m.RequestRate("v2", time.Second), 1e-9)
}

// TestSendLoadAutoAdvanceHour pauses a participant an hour under load: the
// load neither holds the clock back nor costs a step per second.
func TestSendLoadAutoAdvanceHour(t *testing.T) {
	c := newTestCluster(t)
	startWeb(t, c, 3, 1)
	c.SetBehavior("v2", Behavior{ErrorRate: 0.1, Latency: 50 * time.Millisecond})
	c.Clock().SetAutoAdvance(true)
	stop := c.SendLoad(webEntry, 100, Request{})
	defer stop()
	start := c.Clock().Now()

	idleFn, busy, done := c.Clock().Track()
	defer done()
	pauseAsParticipant(t, c.Clock(), idleFn, busy, time.Hour)

	m := c.Metrics()
	assert.Equal(t, start.Add(time.Hour), c.Clock().Now())
	assert.InDelta(t, 270000, m.Requests("v1"), 1e-6)
	assert.InDelta(t, 90000, m.Requests("v2"), 1e-6)
	assert.InDelta(t, 9000, m.Errors("v2"), 1e-6)
	ratio, ok := m.ErrorRatio("v2", 5*time.Minute)
	assert.True(t, ok)
	assert.InDelta(t, 0.1, ratio, 1e-9)
	assert.Len(t, m.LatencySamples("v2", time.Minute), 60*25)
}

// benchLoad sends 100 rps to a 3/1 split for an hour of fake time in steps
// of d.
func benchLoad(b *testing.B, d time.Duration) {
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		c := NewCluster()
		startWeb(b, c, 3, 1)
		c.SetBehavior("v2", Behavior{ErrorRate: 0.1, Latency: 50 * time.Millisecond})
		stop := c.SendLoad(webEntry, 100, Request{})
		b.StartTimer()
		for elapsed := time.Duration(0); elapsed < time.Hour; elapsed += d {
			c.Clock().Step(d)
		}
		b.StopTimer()
		if got := c.Metrics().Requests("v2"); math.Abs(got-90000) > 1e-6 {
			b.Fatalf("v2 got %v requests, want 90000", got)
		}
		stop()
		c.Stop()
		b.StartTimer()
	}
}

// BenchmarkLoadHourSteps1s: an hour of load, the clock stepped every second.
func BenchmarkLoadHourSteps1s(b *testing.B) { benchLoad(b, time.Second) }

// BenchmarkLoadHourOneStep: an hour of load in a single step.
func BenchmarkLoadHourOneStep(b *testing.B) { benchLoad(b, time.Hour) }

// TestSendLoadAutoAdvanceExact scales v2 up under auto-advance: the clock
// stops at the pods' Ready time, so the split changes exactly then.
func TestSendLoadAutoAdvanceExact(t *testing.T) {
	c := newTestCluster(t)
	startWeb(t, c, 3, 1)
	c.Clock().SetAutoAdvance(true)
	stop := c.SendLoad(webEntry, 100, Request{})
	defer stop()

	idleFn, busy, done := c.Clock().Track()
	defer done()
	d := getDeployment(t, c, "web-v2")
	d.Spec.Replicas = ptr.To[int32](3)
	_, err := c.Clients().Kube.AppsV1().Deployments("default").Update(testCtx(t), d, metav1.UpdateOptions{})
	require.NoError(t, err)
	pauseAsParticipant(t, c.Clock(), idleFn, busy, time.Minute)

	m := c.Metrics()
	assert.InDelta(t, 75+59*50, m.Requests("v1"), 1e-6, "1s at 75/25 while the new pods start, then 50/50")
	assert.InDelta(t, 25+59*50, m.Requests("v2"), 1e-6)
}

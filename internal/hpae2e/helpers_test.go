package hpae2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/internal/controlplane"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
)

const (
	appName = "web"
	// workloadReplicas is what the release's workload asks for; autoscaled
	// what the autoscaler chose for the stable slot.
	workloadReplicas = 3
	autoscaled       = 7
	// testTimeout bounds each test; the autoscaler controller reconciles
	// every 15 s, and each test waits for it twice.
	testTimeout = 3 * time.Minute
)

var nsSeq atomic.Int64

// env is one test's namespace: the app's Service, selecting both slots,
// its autoscaler on blue, and the test's own watches.
type env struct {
	t       *testing.T
	ctx     context.Context
	kube    kubernetes.Interface
	clients strategy.Clients
	app     types.NamespacedName
	eps     *e2ekit.EndpointWatcher
	deploys *objcache.Cache[*appsv1.Deployment]
	hpas    *objcache.Cache[*autoscalingv2.HorizontalPodAutoscaler]
}

func newEnv(t *testing.T, prefix string) *env {
	t.Helper()
	cfg := controlplane.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	clients, err := strategy.NewClients(cfg)
	require.NoError(t, err)
	kube := clients.Kube
	ns := fmt.Sprintf("%s-%d", prefix, nsSeq.Add(1))
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	_, err = kube.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: appName},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": appName},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: appName},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr.To[int32](2), MaxReplicas: 10,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: slots.Name(appName, slots.Blue)}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	e := &env{t: t, ctx: ctx, kube: kube, clients: clients, app: types.NamespacedName{Namespace: ns, Name: appName}}
	e.eps = e2ekit.WatchEndpoints(t, ctx, kube, ns, appName, appName)
	deps, hpas := kube.AppsV1().Deployments(ns), kube.AutoscalingV2().HorizontalPodAutoscalers(ns)
	e.deploys = objcache.New[*appsv1.Deployment](objcache.For(deps.List, deps.Watch), clock.RealClock{})
	e.hpas = objcache.New[*autoscalingv2.HorizontalPodAutoscaler](objcache.For(hpas.List, hpas.Watch), clock.RealClock{})
	require.NoError(t, e.deploys.Start(ctx))
	require.NoError(t, e.hpas.Start(ctx))
	return e
}

// kwokToleration lets pods onto kwok's Nodes, which carry this taint.
var kwokToleration = corev1.Toleration{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

func (e *env) release(rev string) strategy.Release {
	return strategy.Release{App: e.app, Revision: rev, Workload: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](workloadReplicas),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": appName}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": appName}},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "web", Image: "web:" + rev,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
				Tolerations: []corev1.Toleration{kwokToleration},
			},
		},
	}}}
}

// run releases rev with s, requires it to succeed and returns how long it
// took.
func (e *env) run(s strategy.Strategy, rev string) time.Duration {
	e.t.Helper()
	start := time.Now()
	res, err := s.Run(e.ctx, e.release(rev))
	require.NoError(e.t, err, "release %s", rev)
	require.Equal(e.t, strategy.PhaseSucceeded, res.Phase)
	return time.Since(start)
}

// serves waits until the Service's ready endpoints are n pods of slot and
// nothing else.
func (e *env) serves(slot string, n int) {
	e.t.Helper()
	require.NoError(e.t, e.eps.WaitFor(e.ctx, fmt.Sprintf("%d pods of slot %s", n, slot), func(s e2ekit.Sample) bool {
		return s.Ready == n && s.BySlot[slot] == n
	}))
}

// autoscale writes slot's scale subresource as the autoscaler controller
// does, which cannot here for want of metrics.
func (e *env) autoscale(slot string, n int32) {
	e.t.Helper()
	name := slots.Name(appName, slot)
	_, err := e.kube.AppsV1().Deployments(e.app.Namespace).UpdateScale(e.ctx, name,
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.app.Namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: n}},
		metav1.UpdateOptions{})
	require.NoError(e.t, err)
}

// scaleTarget is the Deployment the autoscaler scales now.
func (e *env) scaleTarget() string {
	e.t.Helper()
	h, err := e.kube.AutoscalingV2().HorizontalPodAutoscalers(e.app.Namespace).Get(e.ctx, appName, metav1.GetOptions{})
	require.NoError(e.t, err)
	return h.Spec.ScaleTargetRef.Name
}

// controllerLeavesIt waits until the autoscaler scales slot and the
// autoscaler controller has reconciled it as it is now
// (status.observedGeneration) and seen n replicas on slot, then requires
// slot to still have n replicas: without metrics the controller must not
// change them. It returns how long the controller took, and its
// ScalingActive condition.
func (e *env) controllerLeavesIt(slot string, n int32) (time.Duration, string) {
	e.t.Helper()
	start, target := time.Now(), slots.Name(appName, slot)
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	e2ekit.Until(e.t, e.ctx, "the autoscaler controller to observe the autoscaler on "+target, func() bool {
		h, ok := e.hpas.Get(e.app.Namespace, appName)
		hpa = h
		return ok && h.Spec.ScaleTargetRef.Name == target && ptr.Deref(h.Status.ObservedGeneration, 0) >= h.Generation &&
			h.Status.CurrentReplicas == n
	}, e.hpas)
	took := time.Since(start)
	d, err := e.kube.AppsV1().Deployments(e.app.Namespace).Get(e.ctx, target, metav1.GetOptions{})
	require.NoError(e.t, err)
	require.Equal(e.t, n, ptr.Deref(d.Spec.Replicas, 1), "the autoscaler controller changed %s's replicas", target)
	reason := fmt.Sprintf("generation %d observed", hpa.Generation)
	for _, c := range hpa.Status.Conditions {
		if c.Type == autoscalingv2.ScalingActive {
			reason += fmt.Sprintf(", %s=%s: %s", c.Type, c.Status, c.Reason)
		}
	}
	return took, reason
}

// replicas is slot's Deployment's replicas and ready replicas, from the
// test's cache.
func (e *env) replicas(slot string) (want, ready int32) {
	d, ok := e.deploys.Get(e.app.Namespace, slots.Name(appName, slot))
	if !ok {
		return 0, 0
	}
	return ptr.Deref(d.Spec.Replicas, 1), d.Status.ReadyReplicas
}

// settled waits until slot's Deployment has n replicas, all ready.
func (e *env) settled(slot string, n int32) {
	e.t.Helper()
	e2ekit.Until(e.t, e.ctx, fmt.Sprintf("slot %s to have %d ready replicas", slot, n), func() bool {
		want, ready := e.replicas(slot)
		return want == n && ready == n
	}, e.deploys)
}

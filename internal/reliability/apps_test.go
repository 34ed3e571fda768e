package reliability

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/strategy"
)

const (
	appName = "web"
	// bundleApp names the bootstrap bundle's release.
	bundleApp = "bundle"
	// The sizes of the releases: the stable Service must never have fewer
	// ready endpoints once the first release serves it.
	bluegreenReplicas = 3
	canaryReplicas    = 4
)

// kwokToleration lets pods onto kwok's Nodes, which carry this taint.
var kwokToleration = corev1.Toleration{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

func workload(rev string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To(replicas),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": appName}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": appName}},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "web", Image: "web:" + rev,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
				Tolerations: []corev1.Toleration{kwokToleration},
			},
		},
	}}
}

// bluegreenSpec has short delays so that a release takes seconds.
func bluegreenSpec() bluegreen.Spec {
	return bluegreen.Spec{ActiveService: appName, PreviewService: appName + "-preview",
		ScaleDownDelay: ptr.To(time.Second), AbortScaleDownDelay: ptr.To(time.Second), ProgressDeadline: time.Minute}
}

// canarySpec is a ReplicaRatio canary of a few steps, a timed pause among
// them.
func canarySpec() canary.Spec {
	return canary.Spec{StableService: appName, ScaleDownDelay: ptr.To(time.Second), AbortScaleDownDelay: ptr.To(time.Second),
		ProgressDeadline: time.Minute, Steps: []canary.Step{
			canary.SetWeight{Percent: 25}, canary.Pause{Duration: 500 * time.Millisecond},
			canary.SetWeight{Percent: 50}, canary.SetWeight{Percent: 100},
		}}
}

func newBluegreen(cl strategy.Clients, opts ...strategy.Option) *bluegreen.Strategy {
	return bluegreen.New(cl, bluegreenSpec(), append([]strategy.Option{strategy.WithIdentity(identity)}, opts...)...)
}

func newCanary(cl strategy.Clients, opts ...strategy.Option) *canary.Strategy {
	return canary.New(cl, canarySpec(), append([]strategy.Option{strategy.WithIdentity(identity)}, opts...)...)
}

func newBootstrap(cl strategy.Clients, opts ...strategy.Option) *bootstrap.Strategy {
	return bootstrap.New(cl, bootstrap.Spec{Timeout: runTimeout, ObjectTimeout: time.Minute},
		append([]strategy.Option{strategy.WithIdentity(identity)}, opts...)...)
}

// service creates the app's Service: it selects every pod of the app (both
// slots: ReplicaRatio's split, blue/green's switch adds the slot).
func (e *env) service() {
	e.t.Helper()
	_, err := e.clients.Kube.CoreV1().Services(e.ns).Create(e.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: appName},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": appName},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	require.NoError(e.t, err)
}

// watchEndpoints follows the app Service's EndpointSlices through the
// fault-free client.
func (e *env) watchEndpoints() *e2ekit.EndpointWatcher {
	return e2ekit.WatchEndpoints(e.t, e.ctx, e.clients.Kube, e.ns, appName, appName)
}

// bundleYAML is a small Day 1 bundle: a Namespace, what a web app needs,
// a migration Job the app waits for, and the app, which requests
// ephemeral-storage (so its pods schedule only on Nodes that declare it).
const bundleYAML = `
apiVersion: v1
kind: Namespace
metadata:
  name: NS
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: web
  namespace: NS
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: NS
data:
  greeting: hello
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
  namespace: NS
stringData:
  api-key: not-a-real-key
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: NS
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      serviceAccountName: web
      tolerations:
        - {key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}
      containers:
        - name: migrate
          image: registry.example/migrate:1.0
          envFrom:
            - configMapRef: {name: web-config}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
  annotations:
    config.kubernetes.io/depends-on: batch/namespaces/NS/Job/migrate
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      serviceAccountName: web
      tolerations:
        - {key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}
      containers:
        - name: web
          image: registry.example/web:1.0
          resources:
            requests: {ephemeral-storage: 1Gi}
            limits: {ephemeral-storage: 2Gi}
          env:
            - name: API_KEY
              valueFrom:
                secretKeyRef: {name: web-secret, key: api-key}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: NS
spec:
  selector: {app: web}
  ports:
    - {name: http, port: 80, targetPort: 8080}
`

// bundle is the bundle in namespace ns.
func bundle(t testing.TB, ns string) []*unstructured.Unstructured {
	t.Helper()
	text := strings.NewReplacer("name: NS", "name: "+ns, "namespace: NS", "namespace: "+ns,
		"namespaces/NS/", "namespaces/"+ns+"/").Replace(bundleYAML)
	objs, err := bootstrap.Decode("bundle.yaml", strings.NewReader(text))
	require.NoError(t, err)
	return objs
}

// bundleV2 is the bundle's second revision: the app at three replicas
// and its config changed.
func bundleV2(t testing.TB, ns string) []*unstructured.Unstructured {
	t.Helper()
	objs := bundle(t, ns)
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			require.NoError(t, unstructured.SetNestedField(o.Object, int64(3), "spec", "replicas"))
		case "ConfigMap":
			require.NoError(t, unstructured.SetNestedField(o.Object, "hello again", "data", "greeting"))
		}
	}
	return objs
}

// bundleRelease is the bundle's release, its record in its own namespace.
func bundleRelease(t testing.TB, ns string) strategy.Release {
	return strategy.Release{App: typesName(ns, bundleApp), Revision: "v1", Objects: bundle(t, ns)}
}

// slotState is what the cluster says about one slot once it settled.
type slotState struct {
	Revision       string
	Replicas       int32
	Ready, Running int32 // ready pods, pods not terminating
}

// releaseState is the end state of a blue/green or canary release: the
// slots, the app Service's slot and what the record says.
type releaseState struct {
	Blue, Green slotState
	ServiceSlot string
	Phase       strategy.Phase
	Revision    string
	Stable      string
	History     []string
	Pending     int
	Holder      string
}

// settled waits, on watches, until both slots have settled (as many pods
// as replicas, all Ready, none terminating, the Deployment's status
// caught up) and returns the end state of app's release.
func (e *env) settled(t *testing.T) releaseState {
	t.Helper()
	kube := e.clients.Kube
	pods, deps := kube.CoreV1().Pods(e.ns), kube.AppsV1().Deployments(e.ns)
	podCache := objcache.New[*corev1.Pod](objcache.For(pods.List, pods.Watch), clock.RealClock{})
	depCache := objcache.New[*appsv1.Deployment](objcache.For(deps.List, deps.Watch), clock.RealClock{})
	require.NoError(t, podCache.Start(e.ctx))
	require.NoError(t, depCache.Start(e.ctx))
	slot := func(name string) slotState {
		var st slotState
		e2ekit.Until(t, e.ctx, "slot "+name+" to settle", func() bool {
			var all int32
			st = slotState{}
			for _, p := range podCache.List() {
				if p.Labels[strategy.LabelSlot] != name {
					continue
				}
				all++
				if p.DeletionTimestamp == nil {
					st.Running++
					if podReady(p) {
						st.Ready++
					}
				}
			}
			d, ok := depCache.Get(e.ns, appName+"-"+name)
			if !ok {
				return all == 0
			}
			st.Revision, st.Replicas = d.Spec.Template.Labels[strategy.LabelRevision], ptr.Deref(d.Spec.Replicas, 1)
			return d.Status.ObservedGeneration >= d.Generation && all == st.Replicas && st.Ready == st.Replicas &&
				d.Status.Replicas == st.Replicas && d.Status.AvailableReplicas == st.Replicas
		}, podCache, depCache)
		return st
	}
	s := releaseState{Blue: slot(bluegreen.Blue), Green: slot(bluegreen.Green)}
	svc, err := kube.CoreV1().Services(e.ns).Get(e.ctx, appName, metav1.GetOptions{})
	require.NoError(t, err)
	s.ServiceSlot = svc.Spec.Selector[strategy.LabelSlot]
	st := e.status(typesName(e.ns, appName))
	s.Phase, s.Revision, s.Stable, s.Pending, s.Holder = st.Phase, st.Revision, st.Stable, len(st.Pending), st.Lease.Holder
	for _, h := range st.History {
		s.History = append(s.History, fmt.Sprintf("%s %s", h.Revision, h.Phase))
	}
	return s
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// servedBy waits until the app Service's ready endpoints are exactly n
// pods of one slot, and returns it.
func servedBy(t *testing.T, e *env, w *e2ekit.EndpointWatcher, n int) string {
	t.Helper()
	var slot string
	require.NoError(t, w.WaitFor(e.ctx, fmt.Sprintf("%d ready endpoints, all in one slot", n), func(s e2ekit.Sample) bool {
		for _, name := range []string{bluegreen.Blue, bluegreen.Green} {
			if s.Ready == n && s.BySlot[name] == n {
				slot = name
				return true
			}
		}
		return false
	}))
	return slot
}

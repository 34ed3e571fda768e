package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/internal/controlplane"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
)

const (
	appName  = "web"
	replicas = 3
	// testTimeout bounds each test; every wait inside it is on a watch.
	testTimeout = 3 * time.Minute
)

var nsSeq atomic.Int64

// env is one test's namespace on the shared control plane.
type env struct {
	t       testing.TB
	ctx     context.Context
	cfg     *rest.Config
	clients strategy.Clients // the strategy's
	kube    kubernetes.Interface
	app     types.NamespacedName
	control *strategy.Control
	eps     *e2ekit.EndpointWatcher // the active Service's endpoints
	pods    *objcache.Cache[*corev1.Pod]
	deploys *objcache.Cache[*appsv1.Deployment]
}

// newEnv creates a namespace holding the app's active Service, and starts
// the test's own watches of it.
func newEnv(t testing.TB) *env {
	t.Helper()
	cfg := controlplane.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	clients, err := strategy.NewClients(cfg)
	require.NoError(t, err)
	kube := clients.Kube
	ns := fmt.Sprintf("bluegreen-e2e-%d", nsSeq.Add(1))
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	t.Logf("namespace %s", ns)
	_, err = kube.CoreV1().Services(ns).Create(ctx, activeService(ns), metav1.CreateOptions{})
	require.NoError(t, err)
	e := &env{t: t, ctx: ctx, cfg: cfg, clients: clients, kube: kube, app: types.NamespacedName{Namespace: ns, Name: appName},
		control: strategy.NewControl(kube, strategy.WithIdentity("operator"))}
	e.eps = e2ekit.WatchEndpoints(t, ctx, kube, ns, appName, appName)
	pods, deps := kube.CoreV1().Pods(ns), kube.AppsV1().Deployments(ns)
	e.pods = objcache.New[*corev1.Pod](objcache.For(pods.List, pods.Watch), clock.RealClock{})
	e.deploys = objcache.New[*appsv1.Deployment](objcache.For(deps.List, deps.Watch), clock.RealClock{})
	require.NoError(t, e.pods.Start(ctx))
	require.NoError(t, e.deploys.Start(ctx))
	return e
}

func activeService(ns string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: appName, Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": appName},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
}

// kwokToleration lets pods onto kwok's Nodes, which carry this taint.
var kwokToleration = corev1.Toleration{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

func workload(rev string) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](replicas),
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

func (e *env) release(rev string) strategy.Release {
	return strategy.Release{App: e.app, Revision: rev, Workload: workload(rev)}
}

// baseSpec has short delays so that the tests are quick.
func baseSpec() bluegreen.Spec {
	return bluegreen.Spec{ActiveService: appName, PreviewService: appName + "-preview",
		ScaleDownDelay: ptr.To(time.Second), AbortScaleDownDelay: ptr.To(time.Second), ProgressDeadline: time.Minute}
}

func (e *env) strategy(spec bluegreen.Spec, opts ...strategy.Option) *bluegreen.Strategy {
	return bluegreen.New(e.clients, spec, append([]strategy.Option{strategy.WithIdentity("e2e-driver")}, opts...)...)
}

// run runs a release and requires it to succeed.
func (e *env) run(s *bluegreen.Strategy, rev string) *strategy.Result {
	e.t.Helper()
	res, err := s.Run(e.ctx, e.release(rev))
	require.NoError(e.t, err, "release %s", rev)
	require.Equal(e.t, strategy.PhaseSucceeded, res.Phase)
	return res
}

type outcome = e2ekit.Outcome

// start runs a release in the background.
func (e *env) start(s *bluegreen.Strategy, rev string) <-chan outcome {
	return e2ekit.Start(e.ctx, s, e.release(rev))
}

func (e *env) await(ch <-chan outcome) outcome {
	e.t.Helper()
	return e2ekit.Await(e.t, e.ctx, ch)
}

// until waits until cond holds, checking it again on every change of the
// sources, within the test's deadline.
func (e *env) until(what string, cond func() bool, sources ...flow.Source) {
	e.t.Helper()
	e2ekit.Until(e.t, e.ctx, what, cond, sources...)
}

// waitPhase waits, on a watch of the record, until the release reaches phase.
func (e *env) waitPhase(phase strategy.Phase) {
	e.t.Helper()
	e2ekit.WaitStatus(e.t, e.ctx, e.kube, e.app, "phase "+string(phase), func(st *strategy.Status) bool { return st.Phase == phase })
}

// readyPods returns slot's pods that are Ready and not terminating, and all
// its pods.
func (e *env) readyPods(slot string) (ready, all []*corev1.Pod) {
	for _, p := range e.pods.List() {
		if p.Labels[strategy.LabelSlot] != slot {
			continue
		}
		all = append(all, p)
		if p.DeletionTimestamp == nil && podReady(p) {
			ready = append(ready, p)
		}
	}
	return ready, all
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// slotState is what the cluster says about one slot once it settled.
type slotState struct {
	Revision string
	Replicas int32
	// Ready pods and the Deployment's available replicas.
	Ready, Available int32
}

// endState is what the tests assert after a release: both slots, the
// Services' slots and the record.
type endState struct {
	Blue, Green slotState
	Active      string
	Preview     string
	Phase       strategy.Phase
	Revision    string
	Stable      string
	Pending     int
}

// observe waits until both slots have settled (as many pods as replicas, all
// Ready and available, none terminating) and reads the end state.
func (e *env) observe() endState {
	e.t.Helper()
	slot := func(name string) slotState {
		var st slotState
		e.until("slot "+name+" to settle", func() bool {
			d, ok := e.deploys.Get(e.app.Namespace, slots.Name(e.app.Name, name))
			if !ok {
				st = slotState{}
				_, all := e.readyPods(name)
				return len(all) == 0
			}
			ready, all := e.readyPods(name)
			want := ptr.Deref(d.Spec.Replicas, 1)
			st = slotState{Revision: d.Spec.Template.Labels[strategy.LabelRevision], Replicas: want,
				Ready: int32(len(ready)), Available: d.Status.AvailableReplicas}
			return d.Status.ObservedGeneration >= d.Generation && st.Ready == want && len(all) == int(want) &&
				st.Available == want && d.Status.Replicas == want
		}, e.deploys, e.pods)
		return st
	}
	selects := func(name string) string {
		svc, err := e.kube.CoreV1().Services(e.app.Namespace).Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return svc.Spec.Selector[strategy.LabelSlot]
	}
	st, err := e.control.Status(e.ctx, e.app)
	require.NoError(e.t, err)
	return endState{Blue: slot(bluegreen.Blue), Green: slot(bluegreen.Green), Active: selects(appName), Preview: selects(appName + "-preview"),
		Phase: st.Phase, Revision: st.Revision, Stable: st.Stable, Pending: len(st.Pending)}
}

// servesOnly waits until the active Service's ready endpoints are exactly
// the workload's pods in slot.
func (e *env) servesOnly(slot string) {
	e.t.Helper()
	err := e.eps.WaitFor(e.ctx, "only slot "+slot, func(s e2ekit.Sample) bool {
		return s.Ready == replicas && s.BySlot[slot] == replicas
	})
	require.NoError(e.t, err)
}

// podUIDs returns the UIDs of slot's pods.
func (e *env) podUIDs(slot string) []types.UID {
	ready, _ := e.readyPods(slot)
	var out []types.UID
	for _, p := range ready {
		out = append(out, p.UID)
	}
	return out
}

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/internal/controlplane"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
)

const (
	appName   = "web"
	replicas  = 5
	stableSvc = "web-stable"
	canarySvc = "web-canary"
	// abortDelay is the AbortScaleDownDelay of the tests.
	abortDelay = time.Second
	// testTimeout bounds each test; every wait inside it is on a watch.
	testTimeout = 2 * time.Minute
)

var nsSeq atomic.Int64

// env is one test's namespace on the shared control plane.
type env struct {
	t       testing.TB
	ctx     context.Context
	cfg     *rest.Config
	r       routing
	ns      string
	app     types.NamespacedName
	clients strategy.Clients // not counted; the benchmark builds its own
	kube    kubernetes.Interface
	control *strategy.Control
	eps     *e2ekit.EndpointWatcher // the stable Service's endpoints
	// canaryEps follows the canary Service's endpoints; nil without a
	// router.
	canaryEps *e2ekit.EndpointWatcher
	pods      *objcache.Cache[*corev1.Pod]
	deploys   *objcache.Cache[*appsv1.Deployment]
}

// newEnv creates a namespace holding the app's Services and the routing's
// objects, and starts the test's own watches of them.
func newEnv(tb testing.TB, r routing) *env {
	tb.Helper()
	cfg := controlplane.Config(tb)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	tb.Cleanup(cancel)
	if r.router != nil {
		installCRDs(tb, ctx, cfg)
	}
	clients, err := strategy.NewClients(cfg)
	require.NoError(tb, err)
	clients.Mapper.Reset() // the CRDs may just have been installed
	kube := clients.Kube
	ns := fmt.Sprintf("canary-e2e-%d", nsSeq.Add(1))
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	tb.Logf("%s in namespace %s", r.name, ns)
	e := &env{t: tb, ctx: ctx, cfg: cfg, r: r, ns: ns, app: types.NamespacedName{Namespace: ns, Name: appName},
		clients: clients, kube: kube, control: strategy.NewControl(kube, strategy.WithIdentity("operator"))}
	if r.router != nil {
		e.service(stableSvc, canary.Blue)
		e.service(canarySvc, canary.Green)
	} else {
		e.service(appName, "") // ReplicaRatio: one Service selects both slots
	}
	if r.setup != nil {
		r.setup(e)
	}
	e.eps = e2ekit.WatchEndpoints(tb, ctx, kube, ns, appName, e.stableService())
	if r.router != nil {
		e.canaryEps = e2ekit.WatchEndpoints(tb, ctx, kube, ns, appName, canarySvc)
	}
	pods, deps := kube.CoreV1().Pods(ns), kube.AppsV1().Deployments(ns)
	e.pods = objcache.New[*corev1.Pod](objcache.For(pods.List, pods.Watch), clock.RealClock{})
	e.deploys = objcache.New[*appsv1.Deployment](objcache.For(deps.List, deps.Watch), clock.RealClock{})
	require.NoError(tb, e.pods.Start(ctx))
	require.NoError(tb, e.deploys.Start(ctx))
	return e
}

// stableService is the Service that carries the app's traffic.
func (e *env) stableService() string {
	if e.r.router != nil {
		return stableSvc
	}
	return appName
}

// service creates a Service selecting the app's pods, in slot if set.
func (e *env) service(name, slot string) {
	e.t.Helper()
	selector := map[string]string{"app": appName}
	if slot != "" {
		selector[strategy.LabelSlot] = slot
	}
	_, err := e.kube.CoreV1().Services(e.ns).Create(e.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: selector,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	require.NoError(e.t, err)
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

// spec is the canary spec of the routing with the router built on cl, and
// short delays so that the tests are quick.
func (e *env) spec(cl strategy.Clients, steps ...canary.Step) canary.Spec {
	s := canary.Spec{StableService: appName, Steps: steps, ScaleDownDelay: ptr.To(time.Second),
		AbortScaleDownDelay: ptr.To(abortDelay), ProgressDeadline: time.Minute}
	if e.r.router != nil {
		s.StableService, s.CanaryService, s.Router = stableSvc, canarySvc, e.r.router(cl, e.ns)
	}
	return s
}

func (e *env) strategy(spec canary.Spec, opts ...strategy.Option) *canary.Strategy {
	return canary.New(e.clients, spec, append([]strategy.Option{strategy.WithIdentity("e2e-driver")}, opts...)...)
}

// install releases v1, which goes straight to full size on slot blue, and
// returns the period of the endpoint record from the moment v1 fully
// serves the stable Service.
func (e *env) install(spec canary.Spec) e2ekit.Period {
	e.t.Helper()
	res, err := e.strategy(spec).Run(e.ctx, e.release("v1"))
	require.NoError(e.t, err, "release v1")
	require.Equal(e.t, strategy.PhaseSucceeded, res.Phase)
	p, err := e.eps.FullyServed(e.ctx, "v1 on slot blue", func(s e2ekit.Sample) bool {
		return s.Ready == replicas && s.BySlot[canary.Blue] == replicas
	})
	require.NoError(e.t, err)
	return p
}

type outcome = e2ekit.Outcome

// start runs a release in the background.
func (e *env) start(s *canary.Strategy, rev string) <-chan outcome {
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

// waitStatus waits, on a watch of the release record, until the record's
// status satisfies cond, and returns that status.
func (e *env) waitStatus(what string, cond func(*strategy.Status) bool) *strategy.Status {
	e.t.Helper()
	return e2ekit.WaitStatus(e.t, e.ctx, e.kube, e.app, what, cond)
}

// slotState is what the cluster says about one slot once it settled.
type slotState struct {
	Revision string
	Replicas int32
	// Ready pods and the Deployment's available replicas.
	Ready, Available int32
}

// endState is what the tests assert after a release.
type endState struct {
	Blue, Green slotState
	// Stable is the slot the stable Service selects, "" when it selects
	// both (ReplicaRatio).
	Stable    string
	Phase     strategy.Phase
	Revision  string
	StableRev string
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// observe waits until both slots have settled (as many pods as replicas, all
// Ready and available, none terminating) and reads the end state.
func (e *env) observe() endState {
	e.t.Helper()
	slot := func(name string) slotState {
		var st slotState
		e.until("slot "+name+" to settle", func() bool {
			var ready, all int32
			for _, p := range e.pods.List() {
				if p.Labels[strategy.LabelSlot] != name {
					continue
				}
				all++
				if p.DeletionTimestamp == nil && podReady(p) {
					ready++
				}
			}
			d, ok := e.deploys.Get(e.ns, slots.Name(appName, name))
			if !ok {
				st = slotState{}
				return all == 0
			}
			want := ptr.Deref(d.Spec.Replicas, 1)
			st = slotState{Revision: d.Spec.Template.Labels[strategy.LabelRevision], Replicas: want,
				Ready: ready, Available: d.Status.AvailableReplicas}
			return d.Status.ObservedGeneration >= d.Generation && ready == want && all == want &&
				st.Available == want && d.Status.Replicas == want
		}, e.deploys, e.pods)
		return st
	}
	status, err := e.control.Status(e.ctx, e.app)
	require.NoError(e.t, err)
	svc, err := e.kube.CoreV1().Services(e.ns).Get(e.ctx, e.stableService(), metav1.GetOptions{})
	require.NoError(e.t, err)
	return endState{Blue: slot(canary.Blue), Green: slot(canary.Green), Stable: svc.Spec.Selector[strategy.LabelSlot],
		Phase: status.Phase, Revision: status.Revision, StableRev: status.Stable}
}

// servesOnly waits until the stable Service's ready endpoints are exactly
// the workload's pods in slot.
func (e *env) servesOnly(slot string) {
	e.t.Helper()
	require.NoError(e.t, e.eps.WaitFor(e.ctx, "only slot "+slot, func(s e2ekit.Sample) bool {
		return s.Ready == replicas && s.BySlot[slot] == replicas
	}))
}

// events records what a release's observer saw.
type events struct {
	mu  sync.Mutex
	all []strategy.Event
}

func (l *events) observer() strategy.Option {
	return strategy.WithObserver(func(ev strategy.Event) {
		l.mu.Lock()
		l.all = append(l.all, ev)
		l.mu.Unlock()
	})
}

// of returns the events of type typ whose message starts with prefix.
func (l *events) of(typ strategy.EventType, prefix string) []strategy.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []strategy.Event
	for _, ev := range l.all {
		if ev.Type == typ && strings.HasPrefix(ev.Message, prefix) {
			out = append(out, ev)
		}
	}
	return out
}

// step returns when the step whose name starts with prefix started and
// ended; zero times when it did not.
func (l *events) step(prefix string) (started, ended time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.all {
		if !strings.HasPrefix(ev.StepName, prefix) {
			continue
		}
		switch ev.Type {
		case strategy.EventStepStarted:
			if started.IsZero() {
				started = ev.Time
			}
		case strategy.EventStepSucceeded, strategy.EventStepFailed:
			ended = ev.Time
		}
	}
	return started, ended
}

// weights returns the canary weights the release's traffic events set, in
// order.
func (l *events) weights() []int32 {
	var out []int32
	for _, ev := range l.of(strategy.EventTraffic, "canary weight ") {
		var w int32
		if _, err := fmt.Sscanf(ev.Message, "canary weight %d%%", &w); err == nil {
			out = append(out, w)
		}
	}
	return out
}

// replicaLog follows a Deployment's spec.replicas with a watch of its own
// and notes when each value arrived.
type replicaLog struct {
	mu      sync.Mutex
	changes []replicasAt
}

type replicasAt struct {
	replicas int32
	at       time.Time
}

func (e *env) watchReplicas(name string) *replicaLog {
	e.t.Helper()
	l := &replicaLog{}
	w, err := e.kube.AppsV1().Deployments(e.ns).Watch(e.ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	require.NoError(e.t, err)
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			n := ptr.Deref(d.Spec.Replicas, 1)
			l.mu.Lock()
			if len(l.changes) == 0 || l.changes[len(l.changes)-1].replicas != n {
				l.changes = append(l.changes, replicasAt{n, time.Now()})
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// zeroAfter returns when the Deployment was first scaled to 0 after since;
// zero when it was not.
func (l *replicaLog) zeroAfter(since time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.changes {
		if c.replicas == 0 && c.at.After(since) {
			return c.at
		}
	}
	return time.Time{}
}

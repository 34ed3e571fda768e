package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/internal/routertest"
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/rbac"
	"github.com/switchyard-dev/switchyard/strategy/rolling"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

const (
	appName = "web"
	// progressDeadline bounds every wait for pods and endpoints, so that a
	// release that waits for something it cannot see ends in seconds.
	progressDeadline = 30 * time.Second
)

// scenario is what one part of switchyard does: the namespace the admin
// prepares, then the part's work as an identity bound to its roles.
type scenario struct {
	name string
	// roles returns the part's Role and ClusterRole (either may be nil)
	// for namespace ns.
	roles func(ns string) (*rbacv1.Role, *rbacv1.ClusterRole)
	// setup prepares namespace ns as the admin.
	setup func(t testing.TB, ctx context.Context, c *cluster, ns string)
	// run does the part's work with clients cl and returns the first error.
	run func(ctx context.Context, c *cluster, cl strategy.Clients, ns string) error
	// check asserts, as the admin, what a run that succeeded left; nil for
	// nothing more.
	check func(t testing.TB, ctx context.Context, c *cluster, ns string)
}

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

// companions are a release's ConfigMap and Secret of revision rev.
func companions(rev string) []*unstructured.Unstructured {
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "settings"}, "data": map[string]any{"revision": rev}}}
	sec := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "creds"}, "stringData": map[string]any{"token": rev}}}
	return []*unstructured.Unstructured{cm, sec}
}

func release(ns, rev string, replicas int32) strategy.Release {
	return strategy.Release{App: types.NamespacedName{Namespace: ns, Name: appName}, Revision: rev,
		Workload: workload(rev, replicas), Objects: companions(rev)}
}

// service creates, as the admin, a Service selecting the app's pods.
func service(t testing.TB, ctx context.Context, c *cluster, ns, name string) {
	t.Helper()
	_, err := c.admin.Kube.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": appName},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// autoscaler creates, as the admin, the app's HorizontalPodAutoscaler on
// the first slot; the second release moves it (patch).
func autoscaler(t testing.TB, ctx context.Context, c *cluster, ns string) {
	t.Helper()
	_, err := c.admin.Kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: appName},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 10,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: slots.Name(appName, bluegreen.Blue)}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// staleCompanions creates, as the admin, companions of v1 in slot green as
// a switchyard from before owner marks wrote them (its labels, a revision
// of the history, no mark), which the release of v2 to that slot deletes.
func staleCompanions(t testing.TB, ctx context.Context, c *cluster, ns string) {
	t.Helper()
	lbls := map[string]string{strategy.LabelApp: appName, strategy.LabelSlot: bluegreen.Green,
		strategy.LabelRevision: "v1", strategy.LabelManagedBy: strategy.ManagedBy}
	meta := metav1.ObjectMeta{Name: "settings-stale", Labels: lbls}
	_, err := c.admin.Kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: meta}, metav1.CreateOptions{})
	require.NoError(t, err)
	meta.Name = "creds-stale"
	_, err = c.admin.Kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: meta}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// releases runs each revision in turn with s and returns the first error,
// or a release that did not succeed.
func releases(ctx context.Context, s strategy.Strategy, ns string, replicas int32, revs ...string) error {
	for _, rev := range revs {
		res, err := s.Run(ctx, release(ns, rev, replicas))
		if err != nil {
			return fmt.Errorf("release %s: %w", rev, err)
		}
		if res.Phase != strategy.PhaseSucceeded {
			return fmt.Errorf("release %s ended %s: %s", rev, res.Phase, res.Message)
		}
	}
	return nil
}

func roleOnly(f func(string) *rbacv1.Role) func(string) (*rbacv1.Role, *rbacv1.ClusterRole) {
	return func(ns string) (*rbacv1.Role, *rbacv1.ClusterRole) { return f(ns), nil }
}

// blueGreenSpec touches everything the Role grants: a preview Service to
// create, role labels on the pods, companions, and the old slot scaled
// down after the switch.
func blueGreenSpec() bluegreen.Spec {
	return bluegreen.Spec{ActiveService: appName, PreviewService: appName + "-preview", ProgressDeadline: progressDeadline,
		ScaleDownDelay: ptr.To(time.Duration(0)), AbortScaleDownDelay: ptr.To(time.Duration(0)), RollbackWindow: ptr.To(0),
		PreviewMetadata: bluegreen.PodMetadata{Labels: map[string]string{"role": "preview"}},
		ActiveMetadata:  bluegreen.PodMetadata{Labels: map[string]string{"role": "active"}}}
}

var blueGreenScenario = scenario{
	name:  "bluegreen",
	roles: roleOnly(rbac.BlueGreen),
	setup: func(t testing.TB, ctx context.Context, c *cluster, ns string) {
		service(t, ctx, c, ns, appName)
		staleCompanions(t, ctx, c, ns)
		autoscaler(t, ctx, c, ns)
	},
	run: func(ctx context.Context, _ *cluster, cl strategy.Clients, ns string) error {
		spec := blueGreenSpec()
		spec.Autoscaler = appName
		s := bluegreen.New(cl, spec, strategy.WithIdentity("deployer"))
		return releases(ctx, s, ns, 1, "v1", "v2")
	},
	check: checkBlueGreen,
}

// canarySpec has one weighted step, role labels on the pods and no delays.
func canarySpec(steps ...canary.Step) canary.Spec {
	return canary.Spec{StableService: appName, Steps: steps, ProgressDeadline: progressDeadline,
		ScaleDownDelay: ptr.To(time.Duration(0)), AbortScaleDownDelay: ptr.To(time.Duration(0)),
		CanaryMetadata: canary.PodMetadata{Labels: map[string]string{"role": "canary"}},
		StableMetadata: canary.PodMetadata{Labels: map[string]string{"role": "stable"}}}
}

// canaryRatioScenario lets the first release create the Service.
var canaryRatioScenario = scenario{
	name:  "canary-replicaratio",
	roles: roleOnly(func(ns string) *rbacv1.Role { return rbac.Canary(ns, rbac.ReplicaRatio) }),
	setup: func(t testing.TB, ctx context.Context, c *cluster, ns string) {
		staleCompanions(t, ctx, c, ns)
		autoscaler(t, ctx, c, ns)
	},
	run: func(ctx context.Context, _ *cluster, cl strategy.Clients, ns string) error {
		spec := canarySpec(canary.SetWeight{Percent: 50})
		spec.Autoscaler = appName
		spec.ServicePorts = []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}
		s := canary.New(cl, spec, strategy.WithIdentity("deployer"))
		return releases(ctx, s, ns, 2, "v1", "v2")
	},
	check: checkCanaryRatio,
}

const (
	stableSvc = "web-stable"
	canarySvc = "web-canary"
)

// crds guards installing the Gateway API CRD, once per control plane.
var crds struct {
	sync.Mutex
	done bool
}

func installGatewayCRD(t testing.TB, ctx context.Context, c *cluster) {
	t.Helper()
	crds.Lock()
	defer crds.Unlock()
	if crds.done {
		return
	}
	require.NoError(t, e2ekit.InstallCRD(ctx, c.admin.Dynamic, routertest.CRD(t, routertest.GatewayCRD)))
	crds.done = true
}

// canaryGatewayScenario starts from Services that select no slot, as a
// user creates them, so that validation reads the slots.
var canaryGatewayScenario = scenario{
	name:  "canary-gatewayhttproute",
	roles: roleOnly(func(ns string) *rbacv1.Role { return rbac.Canary(ns, rbac.GatewayHTTPRoute) }),
	setup: func(t testing.TB, ctx context.Context, c *cluster, ns string) {
		installGatewayCRD(t, ctx, c)
		service(t, ctx, c, ns, stableSvc)
		service(t, ctx, c, ns, canarySvc)
		_, err := c.admin.Dynamic.Resource(traffic.HTTPRouteGVR).Namespace(ns).Create(ctx, routertest.Parse(t, routertest.HTTPRoute), metav1.CreateOptions{})
		require.NoError(t, err)
		staleCompanions(t, ctx, c, ns)
	},
	run: func(ctx context.Context, _ *cluster, cl strategy.Clients, ns string) error {
		spec := canarySpec(canary.SetWeight{Percent: 50})
		spec.StableService, spec.CanaryService = stableSvc, canarySvc
		spec.Router = traffic.NewGatewayHTTPRoute(cl, types.NamespacedName{Namespace: ns, Name: appName}, stableSvc, canarySvc)
		s := canary.New(cl, spec, strategy.WithIdentity("deployer"))
		return releases(ctx, s, ns, 2, "v1", "v2")
	},
	check: checkCanaryGateway,
}

var rollingScenario = scenario{
	name:  "rolling",
	roles: roleOnly(rbac.Rolling),
	setup: func(testing.TB, context.Context, *cluster, string) {},
	run: func(ctx context.Context, _ *cluster, cl strategy.Clients, ns string) error {
		s := rolling.New(cl, rolling.Spec{ProgressDeadline: progressDeadline}, strategy.WithIdentity("deployer"))
		for _, rev := range []string{"v1", "v2"} {
			r := release(ns, rev, 1)
			r.Objects = nil // rolling has no companions
			res, err := s.Run(ctx, r)
			if err != nil {
				return fmt.Errorf("release %s: %w", rev, err)
			}
			if res.Phase != strategy.PhaseSucceeded {
				return fmt.Errorf("release %s ended %s: %s", rev, res.Phase, res.Message)
			}
		}
		return nil
	},
	check: checkRolling,
}

// controlScenario: a driver with full rights runs a release that pauses
// for Promote; the operator, with the Control role, waits for the pause
// on a watch it starts before the release, reads the status and promotes.
var controlScenario = scenario{
	name:  "control",
	roles: roleOnly(rbac.Control),
	setup: func(t testing.TB, ctx context.Context, c *cluster, ns string) { service(t, ctx, c, ns, appName) },
	run: func(ctx context.Context, c *cluster, cl strategy.Clients, ns string) error {
		app := types.NamespacedName{Namespace: ns, Name: appName}
		operator := strategy.NewControl(cl.Kube, strategy.WithIdentity("operator"))
		paused := make(chan error, 1)
		go func() {
			_, err := operator.Await(ctx, app, func(st *strategy.Status) bool { return st.Phase == strategy.PhasePaused })
			paused <- err
		}()
		// Await lists the record (missing yet) before the release starts;
		// a first list it could not make shows at once.
		dctx, stop := context.WithCancel(ctx)
		defer stop()
		spec := blueGreenSpec()
		spec.ManualPromotion = true
		done := e2ekit.Start(dctx, bluegreen.New(c.admin, spec, strategy.WithIdentity("driver")), release(ns, "v1", 1))
		var err error
		select {
		case err = <-paused:
		case o := <-done:
			return fmt.Errorf("the release ended before Promote: %v", o.Err)
		}
		if err != nil {
			return fmt.Errorf("await: %w", err)
		}
		st, err := operator.Status(ctx, app)
		if err != nil {
			return fmt.Errorf("status: %w", err)
		}
		if st.Phase != strategy.PhasePaused {
			return fmt.Errorf("status says %s, want Paused", st.Phase)
		}
		if err := operator.Promote(ctx, app); err != nil {
			return fmt.Errorf("promote: %w", err)
		}
		o := <-done
		if o.Err != nil {
			return fmt.Errorf("release after Promote: %w", o.Err)
		}
		return nil
	},
}

// bootstrapBundle is a small bundle: a Namespace with a ConfigMap in it,
// two Deployments in the release's namespace and a PriorityClass. Revision
// v2 drops the ConfigMap, a Deployment and the PriorityClass, which prune
// deletes. (Pruning a Namespace takes list on every namespaced resource,
// beyond the roles of package rbac: the Namespace stays.)
func bootstrapBundle(ns, rev string) []*unstructured.Unstructured {
	apps := ns + "-apps"
	deployment := func(name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": name, "namespace": ns},
			"spec": map[string]any{"replicas": int64(1),
				"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": name}},
					"spec": map[string]any{"containers": []any{map[string]any{"name": "web", "image": "web:" + rev}},
						"tolerations": []any{map[string]any{"key": kwokToleration.Key, "operator": "Exists", "effect": "NoSchedule"}}}}}}}
	}
	objs := []*unstructured.Unstructured{
		{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": apps}}},
		deployment(appName),
	}
	if rev == "v1" {
		objs = append(objs, deployment("old"),
			&unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": "settings", "namespace": apps}, "data": map[string]any{"a": "b"}}},
			&unstructured.Unstructured{Object: map[string]any{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
				"metadata": map[string]any{"name": ns + "-high"}, "value": int64(1000)}})
	}
	return objs
}

// bootstrapKinds are the kinds of bootstrapBundle: the ConfigMap is in a
// namespace the bundle creates, so its kind is granted cluster-wide.
var bootstrapKinds = []rbac.Kind{
	{Resource: "namespaces", Cluster: true},
	{Resource: "configmaps", Cluster: true},
	{Group: "apps", Resource: "deployments"},
	{Group: "scheduling.k8s.io", Resource: "priorityclasses", Cluster: true},
}

var bootstrapScenario = scenario{
	name: "bootstrap",
	roles: func(ns string) (*rbacv1.Role, *rbacv1.ClusterRole) {
		return rbac.Bootstrap(rbac.Bundle{Namespace: ns, Kinds: bootstrapKinds, Prune: true})
	},
	setup: func(t testing.TB, _ context.Context, c *cluster, ns string) {
		t.Cleanup(func() {
			bg := context.Background()
			_ = c.admin.Kube.CoreV1().Namespaces().Delete(bg, ns+"-apps", metav1.DeleteOptions{})
			_ = c.admin.Kube.SchedulingV1().PriorityClasses().Delete(bg, ns+"-high", metav1.DeleteOptions{})
		})
	},
	run: func(ctx context.Context, _ *cluster, cl strategy.Clients, ns string) error {
		s := bootstrap.New(cl, bootstrap.Spec{Prune: true, ObjectTimeout: progressDeadline, Timeout: progressDeadline + 5*time.Second},
			strategy.WithIdentity("installer"))
		app := types.NamespacedName{Namespace: ns, Name: "platform"}
		for _, rev := range []string{"v1", "v2"} {
			rep, err := s.Apply(ctx, strategy.Release{App: app, Revision: rev, Objects: bootstrapBundle(ns, rev)})
			if err != nil {
				return fmt.Errorf("bundle %s: %w", rev, err)
			}
			if rep.Result.Phase != strategy.PhaseSucceeded {
				return fmt.Errorf("bundle %s ended %s", rev, rep.Result.Phase)
			}
			if rev == "v2" && rep.Count(bootstrap.ActionPrune) != 3 {
				return errors.New("bundle v2 did not prune the ConfigMap, the Deployment and the PriorityClass")
			}
		}
		return nil
	},
	check: checkBootstrap,
}

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/internal/slots"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/rbac"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// testTimeout bounds each test of this file; every wait is on a watch.
const testTimeout = 2 * time.Minute

// TestEachPartRunsWithItsRoles runs each part as a ServiceAccount bound to
// exactly the roles package rbac returns for it, and checks what it left.
func TestEachPartRunsWithItsRoles(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	for _, sc := range []scenario{blueGreenScenario, canaryRatioScenario, canaryGatewayScenario, rollingScenario, controlScenario, bootstrapScenario} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			ns := c.namespace(t, ctx, "rbac-"+sc.name)
			sc.setup(t, ctx, c, ns)
			role, cr := sc.roles(ns)
			cl := c.actAs(t, ctx, ns, "switchyard", role, cr)
			start := time.Now()
			require.NoError(t, sc.run(ctx, c, cl, ns))
			t.Logf("%s ran in %s", sc.name, time.Since(start).Round(time.Millisecond))
			if sc.check != nil {
				sc.check(t, ctx, c, ns)
			}
		})
	}
}

// gone asserts that get reports the object missing.
func gone(t testing.TB, what string, err error) {
	t.Helper()
	assert.True(t, apierrors.IsNotFound(err), "%s should be gone, got %v", what, err)
}

// podsLabelled asserts that slot's pods all carry role=want, and that
// there are some.
func podsLabelled(t testing.TB, ctx context.Context, c *cluster, ns, slot, want string) {
	t.Helper()
	pods, err := c.admin.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: strategy.LabelSlot + "=" + slot})
	require.NoError(t, err)
	require.NotEmpty(t, pods.Items, "slot %s has pods", slot)
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			assert.Equal(t, want, p.Labels["role"], "pod %s", p.Name)
		}
	}
}

// companionsOf asserts that the stale companions are gone and those of
// revision rev exist.
func companionsOf(t testing.TB, ctx context.Context, c *cluster, ns, rev string) {
	t.Helper()
	kube := c.admin.Kube
	_, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, "settings-stale", metav1.GetOptions{})
	gone(t, "stale companion ConfigMap", err)
	_, err = kube.CoreV1().Secrets(ns).Get(ctx, "creds-stale", metav1.GetOptions{})
	gone(t, "stale companion Secret", err)
	_, err = kube.CoreV1().ConfigMaps(ns).Get(ctx, slots.CompanionName("settings", rev), metav1.GetOptions{})
	assert.NoError(t, err, "companion ConfigMap of %s", rev)
	_, err = kube.CoreV1().Secrets(ns).Get(ctx, slots.CompanionName("creds", rev), metav1.GetOptions{})
	assert.NoError(t, err, "companion Secret of %s", rev)
}

// eventsWritten counts switchyard's Events in ns.
func eventsWritten(t testing.TB, ctx context.Context, c *cluster, ns string) int {
	t.Helper()
	evs, err := c.admin.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{LabelSelector: strategy.LabelManagedBy + "=" + strategy.ManagedBy})
	require.NoError(t, err)
	return len(evs.Items)
}

func replicasOf(t testing.TB, ctx context.Context, c *cluster, ns, name string) int32 {
	t.Helper()
	d, err := c.admin.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	return ptr.Deref(d.Spec.Replicas, 1)
}

func selects(t testing.TB, ctx context.Context, c *cluster, ns, name string) string {
	t.Helper()
	svc, err := c.admin.Kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	return traffic.Slot(svc)
}

func checkBlueGreen(t testing.TB, ctx context.Context, c *cluster, ns string) {
	companionsOf(t, ctx, c, ns, "v2")
	podsLabelled(t, ctx, c, ns, bluegreen.Green, "active")
	assert.Equal(t, bluegreen.Green, selects(t, ctx, c, ns, appName))
	assert.Equal(t, bluegreen.Green, selects(t, ctx, c, ns, appName+"-preview"), "the preview Service was created")
	assert.Zero(t, replicasOf(t, ctx, c, ns, slots.Name(appName, bluegreen.Blue)), "the old slot is scaled down")
	assert.Positive(t, eventsWritten(t, ctx, c, ns), "Events on the release record")
	assert.Equal(t, slots.Name(appName, bluegreen.Green), scaleTarget(t, ctx, c, ns), "the autoscaler moved with the traffic")
}

// scaleTarget is the Deployment the app's HorizontalPodAutoscaler scales.
func scaleTarget(t testing.TB, ctx context.Context, c *cluster, ns string) string {
	t.Helper()
	h, err := c.admin.Kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, appName, metav1.GetOptions{})
	require.NoError(t, err)
	return h.Spec.ScaleTargetRef.Name
}

func checkCanaryRatio(t testing.TB, ctx context.Context, c *cluster, ns string) {
	companionsOf(t, ctx, c, ns, "v2")
	podsLabelled(t, ctx, c, ns, bluegreen.Green, "stable")
	assert.Equal(t, "", selects(t, ctx, c, ns, appName), "the Service it created selects both slots")
	assert.Zero(t, replicasOf(t, ctx, c, ns, slots.Name(appName, bluegreen.Blue)), "the old slot is scaled down")
	assert.Positive(t, eventsWritten(t, ctx, c, ns))
	assert.Equal(t, slots.Name(appName, bluegreen.Green), scaleTarget(t, ctx, c, ns), "the autoscaler moved with the traffic")
}

func checkCanaryGateway(t testing.TB, ctx context.Context, c *cluster, ns string) {
	companionsOf(t, ctx, c, ns, "v2")
	podsLabelled(t, ctx, c, ns, bluegreen.Green, "stable")
	assert.Equal(t, bluegreen.Green, selects(t, ctx, c, ns, stableSvc))
	assert.Equal(t, bluegreen.Green, selects(t, ctx, c, ns, canarySvc))
	u, err := c.admin.Dynamic.Resource(traffic.HTTPRouteGVR).Namespace(ns).Get(ctx, appName, metav1.GetOptions{})
	require.NoError(t, err)
	rules, _, err := unstructured.NestedSlice(u.Object, "spec", "rules")
	require.NoError(t, err)
	refs, _, err := unstructured.NestedSlice(rules[0].(map[string]any), "backendRefs")
	require.NoError(t, err)
	weights := map[string]int64{}
	for _, r := range refs {
		m := r.(map[string]any)
		weights[m["name"].(string)] = m["weight"].(int64)
	}
	assert.Equal(t, map[string]int64{stableSvc: 100, canarySvc: 0}, weights, "after promotion the stable Service takes everything")
	assert.Positive(t, eventsWritten(t, ctx, c, ns))
}

func checkRolling(t testing.TB, ctx context.Context, c *cluster, ns string) {
	d, err := c.admin.Kube.AppsV1().Deployments(ns).Get(ctx, appName, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "web:v2", d.Spec.Template.Spec.Containers[0].Image)
	assert.Equal(t, int32(1), d.Status.AvailableReplicas)
	assert.Positive(t, eventsWritten(t, ctx, c, ns))
}

func checkBootstrap(t testing.TB, ctx context.Context, c *cluster, ns string) {
	kube := c.admin.Kube
	_, err := kube.SchedulingV1().PriorityClasses().Get(ctx, ns+"-high", metav1.GetOptions{})
	gone(t, "pruned PriorityClass", err)
	_, err = kube.CoreV1().ConfigMaps(ns+"-apps").Get(ctx, "settings", metav1.GetOptions{})
	gone(t, "pruned ConfigMap", err)
	_, err = kube.CoreV1().Namespaces().Get(ctx, ns+"-apps", metav1.GetOptions{})
	assert.NoError(t, err, "the bundle's Namespace")
	_, err = kube.AppsV1().Deployments(ns).Get(ctx, appName, metav1.GetOptions{})
	assert.NoError(t, err, "the bundle's Deployment")
	_, err = kube.AppsV1().Deployments(ns).Get(ctx, "old", metav1.GetOptions{})
	gone(t, "pruned Deployment", err)
	assert.Positive(t, eventsWritten(t, ctx, c, ns))
}

// TestControlVerbsWithTheControlRole drives blue/green releases as a
// ServiceAccount with the BlueGreen role, and controls them as another
// with only the Control role: Await, Status, Pause, Resume, Promote and
// Abort.
func TestControlVerbsWithTheControlRole(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ns := c.namespace(t, ctx, "rbac-control-verbs")
	service(t, ctx, c, ns, appName)
	driver := c.actAs(t, ctx, ns, "deployer", rbac.BlueGreen(ns), nil)
	operatorClients := c.actAs(t, ctx, ns, "operator", rbac.Control(ns), nil)
	operator := strategy.NewControl(operatorClients.Kube, strategy.WithIdentity("operator"))
	app := types.NamespacedName{Namespace: ns, Name: appName}
	await := func(what string, cond func(*strategy.Status) bool) *strategy.Status {
		t.Helper()
		st, err := operator.Await(ctx, app, cond)
		require.NoError(t, err, "awaiting %s", what)
		return st
	}

	spec := blueGreenSpec()
	spec.ManualPromotion = false
	require.NoError(t, releases(ctx, bluegreen.New(driver, spec, strategy.WithIdentity("deployer")), ns, 1, "v1"))

	// v2 waits ten minutes before promoting itself: Pause, Resume and
	// Promote act on it while it waits.
	spec.AutoPromotionAfter = 10 * time.Minute
	done := e2ekit.Start(ctx, bluegreen.New(driver, spec, strategy.WithIdentity("deployer")), release(ns, "v2", 1))
	await("v2 waiting to promote", func(st *strategy.Status) bool {
		return st.Revision == "v2" && st.Phase == strategy.PhaseProgressing && st.StepName == "pre-promotion"
	})
	require.NoError(t, operator.Pause(ctx, app))
	await("v2 paused", func(st *strategy.Status) bool { return st.Phase == strategy.PhasePaused })
	st, err := operator.Status(ctx, app)
	require.NoError(t, err)
	assert.True(t, st.Paused)
	require.NoError(t, operator.Resume(ctx, app))
	await("v2 resumed", func(st *strategy.Status) bool { return st.Phase == strategy.PhaseProgressing && !st.Paused })
	promoted := time.Now()
	require.NoError(t, operator.Promote(ctx, app))
	o := e2ekit.Await(t, ctx, done)
	require.NoError(t, o.Err)
	assert.Equal(t, strategy.PhaseSucceeded, o.Res.Phase)
	assert.Less(t, time.Since(promoted), time.Minute, "Promote ended the ten-minute wait")

	// v3 pauses for Promote; Abort sends it back.
	spec.AutoPromotionAfter, spec.ManualPromotion = 0, true
	done = e2ekit.Start(ctx, bluegreen.New(driver, spec, strategy.WithIdentity("deployer")), release(ns, "v3", 1))
	await("v3 paused", func(st *strategy.Status) bool { return st.Revision == "v3" && st.Phase == strategy.PhasePaused })
	require.NoError(t, operator.Abort(ctx, app))
	o = e2ekit.Await(t, ctx, done)
	require.ErrorIs(t, o.Err, strategy.ErrAborted)
	assert.Equal(t, strategy.PhaseAborted, o.Res.Phase)
	st, err = operator.Status(ctx, app)
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseAborted, st.Phase)
	assert.Equal(t, "v2", st.Stable)
	assert.Equal(t, bluegreen.Green, selects(t, ctx, c, ns, appName), "traffic stays on v2's slot")

	// The Control role writes nothing but the record.
	_, err = operatorClients.Kube.CoreV1().Services(ns).Get(ctx, appName, metav1.GetOptions{})
	assert.True(t, apierrors.IsForbidden(err), "the operator cannot read Services: %v", err)
	_, err = operatorClients.Kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	assert.True(t, apierrors.IsForbidden(err), "the operator cannot create ConfigMaps: %v", err)
}

package conformance

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/internal/objcache"
)

// runSuite runs every conformance test against the env newEnv makes.
func runSuite(t *testing.T, newEnv func(*testing.T) env) {
	t.Run("RollingUpdate", func(t *testing.T) { testRollingUpdate(t, newEnv(t)) })
	t.Run("EndpointSlicesFollowReadiness", func(t *testing.T) { testEndpointSlices(t, newEnv(t)) })
	t.Run("ServerSideApply", func(t *testing.T) { testServerSideApply(t, newEnv(t)) })
	t.Run("Watch", func(t *testing.T) { testWatch(t, newEnv(t)) })
	t.Run("WatchCaches", func(t *testing.T) {
		for _, c := range []struct {
			name string
			test func(*testing.T, env)
		}{
			{"LayerSharesOneListAndWatch", testLayerShares},
			{"RelistAfterExpiry", testRelistAfterExpiry},
			{"RewatchAfterDrop", testRewatchAfterDrop},
			{"StartedLateAgreesWithList", testResync},
			{"ObserveNotTakenBackByOlderUpdates", testObserveUpdates},
			{"ObserveNotTakenBackByOlderDelete", testObserveRecreate},
			{"ForbiddenWatchReported", testForbiddenWatch},
			{"LayerCloseEndsEveryCache", testLayerClose},
		} {
			t.Run(c.name, func(t *testing.T) { c.test(t, newEnv(t)) })
		}
	})
}

func deployment(ns, version string, replicas int32, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "version": version}},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "web", Image: "web:" + version,
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
					// kwok nodes carry this taint; the fake ignores taints.
					Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
				},
			},
		},
	}
}

type counts struct{ newReady, oldReady, pods int32 }

func testRollingUpdate(t *testing.T, e env) {
	cases := map[string]struct {
		surge, unavailable intstr.IntOrString
		maxSurge, maxUnav  int32
		// decisions is the exact sequence of (new, old) desired replicas,
		// where only one pod is ever starting and so the order of pod
		// readiness cannot change it.
		decisions [][2]int32
	}{
		"surge 1 unavailable 0": {intstr.FromInt32(1), intstr.FromInt32(0), 1, 0,
			[][2]int32{{0, 4}, {1, 4}, {1, 3}, {2, 3}, {2, 2}, {3, 2}, {3, 1}, {4, 1}, {4, 0}}},
		"surge 0 unavailable 1": {intstr.FromInt32(0), intstr.FromInt32(1), 0, 1,
			[][2]int32{{0, 4}, {0, 3}, {1, 3}, {1, 2}, {2, 2}, {2, 1}, {3, 1}, {3, 0}, {4, 0}}},
		"25% and 25%":           {intstr.FromString("25%"), intstr.FromString("25%"), 1, 1, nil},
		"surge 2 unavailable 0": {intstr.FromInt32(2), intstr.FromInt32(0), 2, 0, nil},
	}
	const replicas = 4
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			ns := e.namespace(t, ctx)
			deps := e.kube.AppsV1().Deployments(ns)
			_, err := deps.Create(ctx, deployment(ns, "v1", replicas, tc.surge, tc.unavailable), metav1.CreateOptions{})
			require.NoError(t, err)
			dc := cache[*appsv1.Deployment](t, ctx, e, objcache.For(deps.List, deps.Watch))
			rolledOut := func(version string) func() bool {
				return func() bool {
					d, ok := dc.Get(ns, "web")
					return ok && d.Spec.Template.Labels["version"] == version && d.Status.ObservedGeneration >= d.Generation &&
						d.Status.UpdatedReplicas == replicas && d.Status.AvailableReplicas == replicas && d.Status.Replicas == replicas
				}
			}
			until(t, ctx, e, "v1 available", rolledOut("v1"), dc)

			rss := e.kube.AppsV1().ReplicaSets(ns)
			rc := cache[*appsv1.ReplicaSet](t, ctx, e, objcache.For(rss.List, rss.Watch))
			log := followReplicaSets(t, ctx, e, ns)
			var seen []counts
			observe := func() counts {
				var c counts
				for _, rs := range rc.List() {
					if rs.Spec.Template.Labels["version"] == "v2" {
						c.newReady += rs.Status.ReadyReplicas
					} else {
						c.oldReady += rs.Status.ReadyReplicas
					}
					c.pods += ptr.Deref(rs.Spec.Replicas, 0)
				}
				if len(seen) == 0 || seen[len(seen)-1] != c {
					seen = append(seen, c)
				}
				return c
			}
			observe()

			_, err = deps.Patch(ctx, "web", types.MergePatchType,
				[]byte(`{"spec":{"template":{"metadata":{"labels":{"version":"v2"}}}}}`), metav1.PatchOptions{})
			require.NoError(t, err)
			done := rolledOut("v2")
			until(t, ctx, e, "v2 rolled out", func() bool {
				c := observe()
				return done() && c.newReady == replicas && c.oldReady == 0 && c.pods == replicas
			}, dc, rc, log)

			for _, c := range seen {
				assert.GreaterOrEqual(t, c.newReady+c.oldReady, int32(replicas)-tc.maxUnav, "ready pods fell below replicas-maxUnavailable: %v", seen)
				assert.LessOrEqual(t, c.pods, int32(replicas)+tc.maxSurge, "desired pods rose above replicas+maxSurge: %v", seen)
			}
			for i := 1; i < len(seen); i++ {
				assert.GreaterOrEqual(t, seen[i].newReady, seen[i-1].newReady, "new ready pods never go down: %v", seen)
			}
			assert.Equal(t, counts{replicas, 0, replicas}, seen[len(seen)-1])
			decided := log.Decisions()
			if tc.decisions != nil {
				assert.Equal(t, tc.decisions, decided, "the controller's scaling decisions, (new, old) replicas")
			}
			t.Logf("ready (new, old, desired pods): %v; decisions (new, old): %v", seen, decided)
		})
	}
}

func testEndpointSlices(t *testing.T, e env) {
	ctx := t.Context()
	ns := e.namespace(t, ctx)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	_, err := e.kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = e.kube.AppsV1().Deployments(ns).Create(ctx, deployment(ns, "v1", 3, intstr.FromInt32(1), intstr.FromInt32(0)), metav1.CreateOptions{})
	require.NoError(t, err)

	slices := e.kube.DiscoveryV1().EndpointSlices(ns)
	sc := cache[*discoveryv1.EndpointSlice](t, ctx, e,
		objcache.For(slices.List, slices.Watch, objcache.ByLabel(discoveryv1.LabelServiceName+"=web")))
	ready := func() (n int, port int32) {
		for _, s := range sc.List() {
			for _, ep := range s.Endpoints {
				if ptr.Deref(ep.Conditions.Ready, false) {
					n++
				}
			}
			for _, p := range s.Ports {
				port = ptr.Deref(p.Port, 0)
			}
		}
		return n, port
	}
	until(t, ctx, e, "3 ready endpoints", func() bool { n, _ := ready(); return n == 3 }, sc)
	_, port := ready()
	assert.EqualValues(t, 8080, port, "the named target port resolves to the container port")

	_, err = e.kube.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	until(t, ctx, e, "1 ready endpoint", func() bool { n, _ := ready(); return n == 1 }, sc)
}

func testServerSideApply(t *testing.T, e env) {
	ctx := t.Context()
	ns := e.namespace(t, ctx)
	cms := e.kube.CoreV1().ConfigMaps(ns)
	apply := func(manager, value string, force bool) (*corev1.ConfigMap, error) {
		body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings"},"data":{"mode":"` + value + `"}}`
		return cms.Patch(ctx, "settings", types.ApplyPatchType, []byte(body), metav1.PatchOptions{FieldManager: manager, Force: ptr.To(force)})
	}
	created, err := apply("alice", "a", false)
	require.NoError(t, err, "apply creates")
	assert.Equal(t, "a", created.Data["mode"])

	updated, err := apply("alice", "b", false)
	require.NoError(t, err, "the owner updates its own field")
	assert.Equal(t, "b", updated.Data["mode"])
	assert.NotEqual(t, created.ResourceVersion, updated.ResourceVersion)

	same, err := apply("alice", "b", false)
	require.NoError(t, err)
	assert.Equal(t, updated.ResourceVersion, same.ResourceVersion, "a no-op apply writes nothing")

	_, err = apply("bob", "c", false)
	require.True(t, apierrors.IsConflict(err), "another manager gets a conflict, got %v", err)

	forced, err := apply("bob", "c", true)
	require.NoError(t, err)
	assert.Equal(t, "c", forced.Data["mode"])
	var managers []string
	for _, m := range forced.ManagedFields {
		managers = append(managers, m.Manager)
	}
	assert.Contains(t, managers, "bob")
}

func testWatch(t *testing.T, e env) {
	ctx := t.Context()
	ns := e.namespace(t, ctx)
	cms := e.kube.CoreV1().ConfigMaps(ns)
	a, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Data: map[string]string{"n": "0"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	a1 := a.DeepCopy()
	a1.Data["n"] = "1"
	a1, err = cms.Update(ctx, a1, metav1.UpdateOptions{})
	require.NoError(t, err)
	stale := a.DeepCopy()
	stale.Data["n"] = "stale"
	_, err = cms.Update(ctx, stale, metav1.UpdateOptions{})
	require.True(t, apierrors.IsConflict(err), "an update from a stale resourceVersion conflicts, got %v", err)

	a2 := a1.DeepCopy()
	a2.Data["n"] = "2"
	_, err = cms.Update(ctx, a2, metav1.UpdateOptions{})
	require.NoError(t, err)
	_, err = cms.Patch(ctx, "b", types.MergePatchType, []byte(`{"data":{"x":"y"}}`), metav1.PatchOptions{})
	require.NoError(t, err)

	// A watch from a's first version, filtered to a, sees exactly the later
	// changes of a, in order.
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: a.ResourceVersion, FieldSelector: "metadata.name=a"})
	require.NoError(t, err)
	defer w.Stop()
	var got []string
	for len(got) < 2 {
		select {
		case ev := <-w.ResultChan():
			cm, ok := ev.Object.(*corev1.ConfigMap)
			require.True(t, ok, "event %v", ev)
			require.Equal(t, watch.Modified, ev.Type)
			got = append(got, cm.Name+"="+cm.Data["n"])
		case <-ctx.Done():
			t.Fatal("watch ended early")
		}
	}
	assert.Equal(t, []string{"a=1", "a=2"}, got)
}

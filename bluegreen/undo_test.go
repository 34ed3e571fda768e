package bluegreen_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/strategy"
)

func TestUndoInsideWindowIsAnInstantSwitch(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	s := newStrategy(c, baseSpec(), "driver-a")
	for _, rev := range []string{"v1", "v2"} {
		_, err := s.Run(ctx, release(rev))
		require.NoError(t, err)
	}
	blue, err := c.Clients().Kube.AppsV1().Deployments(app.Namespace).Get(ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	start := c.Clock().Now()

	res, err := s.Undo(ctx, app, "v1")
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	assert.Equal(t, start, c.Clock().Now(), "no pod had to start: the switch back took no time")
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3}, Green: slotState{"v2", 3, 3}, Active: "blue", Preview: "blue",
		Phase: strategy.PhaseSucceeded, Revision: "v1", Stable: "v1"}, observe(t, c))
	after, err := c.Clients().Kube.AppsV1().Deployments(app.Namespace).Get(ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, blue.Generation, after.Generation, "the old slot was not rolled again")

	_, err = s.Undo(ctx, app, "v9")
	require.ErrorIs(t, err, strategy.ErrUnknownRevision)
}

func TestUndoOutsideWindowRedeploys(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	spec := baseSpec()
	spec.RollbackWindow = ptr.To(0)
	s := newStrategy(c, spec, "driver-a")
	for _, rev := range []string{"v1", "v2"} {
		_, err := s.Run(ctx, release(rev))
		require.NoError(t, err)
	}
	require.Equal(t, slotState{"v1", 0, 0}, observe(t, c).Blue)

	// Asked from another process while nothing runs: the next Run ships v1,
	// and says that it did not ship the revision it was asked to.
	require.NoError(t, strategy.NewControl(c.Clients().Kube).Undo(ctx, app, "v1"))
	res, err := s.Run(ctx, release("v2"))
	require.ErrorIs(t, err, strategy.ErrSuperseded)
	assert.ErrorContains(t, err, "v1 serves")
	assert.Equal(t, "v1", res.Revision)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3}, Green: slotState{"v2", 0, 0}, Active: "blue", Preview: "blue",
		Phase: strategy.PhaseSucceeded, Revision: "v1", Stable: "v1"}, observe(t, c))
}

func TestAdoptionKeepsEndpointsReady(t *testing.T) {
	ctx := testCtx(t)
	plain := workload("v0")
	plain.ObjectMeta = metav1.ObjectMeta{Name: app.Name, Namespace: app.Namespace}
	c := newCluster(t, plain)
	require.NoError(t, c.WaitIdle(ctx))
	c.Clock().Step(time.Second) // the plain Deployment's pods start
	minReady := watchReadyEndpoints(t, c, "web")
	waitMinimum(t, minReady, 3)

	res, err := newStrategy(c, baseSpec(), "driver-a").Run(ctx, release("v1"))
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	got := observe(t, c)
	assert.Equal(t, "blue", got.Active)
	assert.Equal(t, slotState{"v1", 3, 3}, got.Blue)
	old, err := c.Clients().Kube.AppsV1().Deployments(app.Namespace).Get(ctx, app.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 0, ptr.Deref(old.Spec.Replicas, 1), "the adopted Deployment is scaled down after the delay")
	assert.GreaterOrEqual(t, minReady.min(), 3, "the Service never had fewer than 3 ready endpoints")
}

func TestCompanionConfigsAreVersionedPerSlot(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	s := newStrategy(c, baseSpec(), "driver-a")
	rel := func(rev, value string) strategy.Release {
		r := release(rev)
		r.Workload.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}}}
		r.Workload.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "web-secret"}}}}
		r.Objects = unstructuredObjects(t,
			&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "web-config"}, Data: map[string]string{"mode": value}},
			&corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: "web-secret"}, StringData: map[string]string{"token": value}},
		)
		return r
	}
	configOf := func(slot string) (cm, secret, mode string) {
		d, err := c.Clients().Kube.AppsV1().Deployments(app.Namespace).Get(ctx, "web-"+slot, metav1.GetOptions{})
		require.NoError(t, err)
		cm = d.Spec.Template.Spec.Volumes[0].ConfigMap.Name
		secret = d.Spec.Template.Spec.Containers[0].EnvFrom[0].SecretRef.Name
		got, err := c.Clients().Kube.CoreV1().ConfigMaps(app.Namespace).Get(ctx, cm, metav1.GetOptions{})
		require.NoError(t, err)
		return cm, secret, got.Data["mode"]
	}
	for _, step := range []struct{ rev, value string }{{"v1", "one"}, {"v2", "two"}} {
		_, err := s.Run(ctx, rel(step.rev, step.value))
		require.NoError(t, err)
	}
	blueCM, blueSecret, blueMode := configOf("blue")
	greenCM, greenSecret, greenMode := configOf("green")
	assert.NotEqual(t, blueCM, greenCM, "the slots never share a ConfigMap")
	assert.NotEqual(t, blueSecret, greenSecret, "nor a Secret")
	assert.Equal(t, "one", blueMode)
	assert.Equal(t, "two", greenMode)

	_, err := s.Run(ctx, rel("v3", "three"))
	require.NoError(t, err)
	_, _, mode := configOf("blue")
	assert.Equal(t, "three", mode)
	_, err = c.Clients().Kube.CoreV1().ConfigMaps(app.Namespace).Get(ctx, blueCM, metav1.GetOptions{})
	assert.True(t, isNotFound(err), "v1's ConfigMap went with its slot's new revision: %v", err)
	_, err = c.Clients().Kube.CoreV1().Secrets(app.Namespace).Get(ctx, blueSecret, metav1.GetOptions{})
	assert.True(t, isNotFound(err), "and its Secret: %v", err)
	_, _, mode = configOf("green")
	assert.Equal(t, "two", mode, "the other slot keeps its own")
}

func TestUndoRequestedMidFlightStopsTheReleaseAndShipsTheRevision(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	s := newStrategy(c, baseSpec(), "driver-a")
	for _, rev := range []string{"v1", "v2"} {
		_, err := s.Run(ctx, release(rev))
		require.NoError(t, err)
	}
	spec := baseSpec()
	spec.ManualPromotion = true
	done := make(chan *strategy.Result, 1)
	go func() { res, _ := newStrategy(c, spec, "driver-a").Run(ctx, release("v3")); done <- res }()
	waitPhase(t, c, strategy.PhasePaused)
	require.NoError(t, strategy.NewControl(c.Clients().Kube).Undo(ctx, app, "v1"))
	res := <-done
	require.ErrorIs(t, res.Err(), strategy.ErrSuperseded)
	assert.Equal(t, "green", observe(t, c).Active, "traffic stayed on v2 while v3 stopped")
	assert.Equal(t, 1, observe(t, c).RecordPending, "the Undo waits in the record for the next Run")

	res, err := s.Run(ctx, release("v3"))
	require.ErrorIs(t, err, strategy.ErrSuperseded, "a Run of v3 that shipped v1 says so")
	assert.Equal(t, "v1", res.Revision, "the next Run ships the revision the Undo named")
	got := observe(t, c)
	assert.Equal(t, "blue", got.Active)
	assert.Equal(t, slotState{"v1", 3, 3}, got.Blue)
	assert.Zero(t, got.RecordPending)
}

func TestUnrelatedDeploymentNamedAfterTheAppIsNotAdopted(t *testing.T) {
	ctx := testCtx(t)
	other := workload("v0")
	other.ObjectMeta = metav1.ObjectMeta{Name: app.Name, Namespace: app.Namespace}
	other.Spec.Selector.MatchLabels = map[string]string{"app": "batch"}
	other.Spec.Template.Labels = map[string]string{"app": "batch"}
	c := newCluster(t, other)
	_, err := newStrategy(c, baseSpec(), "driver-a").Run(ctx, release("v1"))
	require.NoError(t, err)
	d, err := c.Clients().Kube.AppsV1().Deployments(app.Namespace).Get(ctx, app.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 3, ptr.Deref(d.Spec.Replicas, 0), "a Deployment the Service does not select is left alone")
}

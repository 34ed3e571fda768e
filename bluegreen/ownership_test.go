package bluegreen_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/strategy"
)

// TestOnlyOwnObjectsAreDeletedOrOverwritten: a user's ConfigMap and Secret
// that merely carry the labels of a slot's companions survive the slot's
// clean-up, and a Deployment named like a slot that switchyard did not
// create is a clear error and is left untouched.
func TestOnlyOwnObjectsAreDeletedOrOverwritten(t *testing.T) {
	ctx := testCtx(t)
	lookalike := metav1.ObjectMeta{Namespace: app.Namespace, Labels: map[string]string{
		strategy.LabelApp: "web", strategy.LabelSlot: "blue", strategy.LabelRevision: "v0", strategy.LabelManagedBy: strategy.ManagedBy}}
	cm := &corev1.ConfigMap{ObjectMeta: lookalike, Data: map[string]string{"k": "v"}}
	cm.Name = "users-config"
	sec := &corev1.Secret{ObjectMeta: *lookalike.DeepCopy(), Data: map[string][]byte{"k": []byte("v")}}
	sec.Name = "users-secret"
	c := newCluster(t, cm, sec)
	s := newStrategy(c, baseSpec(), "driver-a")
	for _, rev := range []string{"v1", "v2", "v3"} { // blue is rolled twice
		_, err := s.Run(ctx, release(rev))
		require.NoError(t, err)
	}
	_, err := c.Clients().Kube.CoreV1().ConfigMaps(app.Namespace).Get(ctx, "users-config", metav1.GetOptions{})
	assert.NoError(t, err, "the user's ConfigMap is still there")
	_, err = c.Clients().Kube.CoreV1().Secrets(app.Namespace).Get(ctx, "users-secret", metav1.GetOptions{})
	assert.NoError(t, err, "the user's Secret is still there")
	d, err := c.Clients().Kube.AppsV1().Deployments(app.Namespace).Get(ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEmpty(t, d.Annotations[strategy.AnnotationOwner], "switchyard marks what it creates")

	// In another namespace, a Deployment named like the first slot is there already.
	foreign := workload("x")
	foreign.ObjectMeta = metav1.ObjectMeta{Name: "web-blue", Namespace: "other", Labels: map[string]string{strategy.LabelApp: "web", strategy.LabelSlot: "blue"}}
	foreign.Spec.Replicas = ptr.To[int32](1)
	c2 := newCluster(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "other"}, Spec: activeService().Spec}, foreign)
	r := release("v1")
	r.App.Namespace = "other"
	_, err = newStrategy(c2, baseSpec(), "driver-a").Run(ctx, r)
	var fe *strategy.ForeignObjectError
	require.ErrorAs(t, err, &fe)
	assert.ErrorIs(t, err, strategy.ErrForeignObject)
	assert.Equal(t, "web-blue", fe.Name)
	got, err := c2.Clients().Kube.AppsV1().Deployments("other").Get(ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "web:x", got.Spec.Template.Spec.Containers[0].Image, "the foreign Deployment is untouched")
	assert.EqualValues(t, 1, ptr.Deref(got.Spec.Replicas, 0))
}

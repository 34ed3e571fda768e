package traffic_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

func TestSteerable(t *testing.T) {
	pods := map[string]string{"app": "web", "tier": "front"}
	cases := map[string]struct {
		svc corev1.ServiceSpec
		ok  bool
	}{
		"selects the pods":          {corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}, true},
		"already on a slot":         {corev1.ServiceSpec{Selector: map[string]string{"app": "web", strategy.LabelSlot: "blue"}}, true},
		"no selector":               {corev1.ServiceSpec{}, false},
		"only the slot":             {corev1.ServiceSpec{Selector: map[string]string{strategy.LabelSlot: "blue"}}, false},
		"other pods":                {corev1.ServiceSpec{Selector: map[string]string{"app": "api"}}, false},
		"external name":             {corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, Selector: map[string]string{"app": "web"}}, false},
		"narrower than the pods ok": {corev1.ServiceSpec{Selector: map[string]string{"app": "web", "tier": "front"}}, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := traffic.Steerable(&corev1.Service{Spec: tc.svc}, pods)
			assert.Equal(t, tc.ok, err == nil, "%v", err)
		})
	}
}

func TestPointWritesOnlyTheSlotLabel(t *testing.T) {
	ctx := context.Background()
	c := fake.NewCluster()
	t.Cleanup(c.Stop)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}}}
	_, err := c.Clients().Kube.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	require.NoError(t, err)
	c.ResetRequests()

	sel := traffic.ServiceSelector{Kube: c.Clients().Kube, Service: types.NamespacedName{Namespace: "default", Name: "web"}}
	out, err := sel.Point(ctx, "green")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "web", strategy.LabelSlot: "green"}, out.Spec.Selector)
	assert.Equal(t, "green", traffic.Slot(out))
	assert.Equal(t, 1, c.Requests().Total(), "the switch is one request")
}

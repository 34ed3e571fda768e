package fake

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/utils/ptr"
)

// TestConflictsHitOnlyWrites checks Conflicts("*", …) against every verb:
// writes get the 409 an apiserver gives, reads pass and keep the fault.
func TestConflictsHitOnlyWrites(t *testing.T) {
	cm := func(name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	}
	tests := map[string]struct {
		call func(ctx context.Context, c *Cluster) error
		want func(error) bool // nil: the call succeeds
	}{
		"get": {call: func(ctx context.Context, c *Cluster) error {
			_, err := c.Clients().Kube.CoreV1().ConfigMaps("default").Get(ctx, "cm", metav1.GetOptions{})
			return err
		}},
		"list": {call: func(ctx context.Context, c *Cluster) error {
			_, err := c.Clients().Kube.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
			return err
		}},
		"watch": {call: func(ctx context.Context, c *Cluster) error {
			w, err := c.Clients().Kube.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		}},
		"delete without preconditions": {call: func(ctx context.Context, c *Cluster) error {
			return c.Clients().Kube.CoreV1().ConfigMaps("default").Delete(ctx, "cm", metav1.DeleteOptions{})
		}},
		"deletecollection": {call: func(ctx context.Context, c *Cluster) error {
			return c.Clients().Dynamic.Resource(configMapsGVR).Namespace("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		}},
		"update": {want: apierrors.IsConflict, call: func(ctx context.Context, c *Cluster) error {
			_, err := c.Clients().Kube.CoreV1().ConfigMaps("default").Update(ctx, cm("cm"), metav1.UpdateOptions{})
			return err
		}},
		"merge patch": {want: apierrors.IsConflict, call: func(ctx context.Context, c *Cluster) error {
			_, err := c.Clients().Kube.CoreV1().ConfigMaps("default").Patch(ctx, "cm", types.MergePatchType, []byte(`{"data":{"a":"b"}}`), metav1.PatchOptions{})
			return err
		}},
		"server-side apply": {want: apierrors.IsConflict, call: func(ctx context.Context, c *Cluster) error {
			_, err := c.Clients().Kube.CoreV1().ConfigMaps("default").Apply(ctx,
				applycorev1.ConfigMap("cm", "default").WithData(map[string]string{"a": "b"}), metav1.ApplyOptions{FieldManager: "test"})
			return err
		}},
		"status update": {want: apierrors.IsConflict, call: func(ctx context.Context, c *Cluster) error {
			_, err := c.Clients().Kube.CoreV1().Pods("default").UpdateStatus(ctx,
				&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}}, metav1.UpdateOptions{})
			return err
		}},
		"create": {want: apierrors.IsAlreadyExists, call: func(ctx context.Context, c *Cluster) error {
			_, err := c.Clients().Kube.CoreV1().ConfigMaps("default").Create(ctx, cm("new"), metav1.CreateOptions{})
			return err
		}},
		"delete with a resourceVersion precondition": {want: apierrors.IsConflict, call: func(ctx context.Context, c *Cluster) error {
			return c.Clients().Kube.CoreV1().ConfigMaps("default").Delete(ctx, "cm",
				metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: ptr.To("1")}})
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			c := newTestCluster(t, WithObjects(cm("cm")))
			c.Conflicts("*", "*", 1)
			err := tc.call(ctx, c)
			if tc.want == nil {
				require.NoError(t, err)
				// The fault was not used up: the next write still conflicts.
				_, err = c.Clients().Kube.CoreV1().ConfigMaps("default").Update(ctx, cm("other"), metav1.UpdateOptions{})
				assert.True(t, apierrors.IsConflict(err), "got %v", err)
				return
			}
			assert.True(t, tc.want(err), "got %v", err)
			assert.Equal(t, int32(409), apiCode(err))
		})
	}
}

func apiCode(err error) int32 {
	if s, ok := err.(apierrors.APIStatus); ok {
		return s.Status().Code
	}
	return 0
}

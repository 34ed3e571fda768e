package fake

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFaults(t *testing.T) {
	boom := errors.New("boom")
	tests := map[string]struct {
		inject func(c *Cluster)
		// update makes the requests updates instead of gets.
		update bool
		check  func(t *testing.T, errs []error)
	}{
		"fail twice": {
			inject: func(c *Cluster) { c.FailRequests("get", "configmaps", boom, 2) },
			check: func(t *testing.T, errs []error) {
				assert.ErrorIs(t, errs[0], boom)
				assert.ErrorIs(t, errs[1], boom)
				assert.NoError(t, errs[2])
			},
		},
		"fail until cleared, any verb": {
			inject: func(c *Cluster) { c.FailRequests("*", "configmaps", boom, 0) },
			check: func(t *testing.T, errs []error) {
				for _, err := range errs {
					assert.ErrorIs(t, err, boom)
				}
			},
		},
		"other resources pass": {
			inject: func(c *Cluster) { c.FailRequests("get", "secrets", boom, 0) },
			check: func(t *testing.T, errs []error) {
				for _, err := range errs {
					assert.NoError(t, err)
				}
			},
		},
		"conflict once": {
			inject: func(c *Cluster) { c.Conflicts("*", "*", 1) },
			update: true,
			check: func(t *testing.T, errs []error) {
				assert.True(t, apierrors.IsConflict(errs[0]))
				assert.NoError(t, errs[1])
			},
		},
		"chain: newest first, then passes on": {
			inject: func(c *Cluster) {
				c.FailRequests("update", "configmaps", boom, 1)
				c.Conflicts("update", "configmaps", 1)
			},
			update: true,
			check: func(t *testing.T, errs []error) {
				assert.True(t, apierrors.IsConflict(errs[0]))
				assert.ErrorIs(t, errs[1], boom)
				assert.NoError(t, errs[2])
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newTestCluster(t, WithObjects(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "default"}}))
			tc.inject(c)
			cms := c.Clients().Kube.CoreV1().ConfigMaps("default")
			var errs []error
			for i := 0; i < 3; i++ {
				var err error
				if tc.update {
					_, err = cms.Update(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "default"}}, metav1.UpdateOptions{})
				} else {
					_, err = cms.Get(context.Background(), "cm", metav1.GetOptions{})
				}
				errs = append(errs, err)
			}
			tc.check(t, errs)
			c.ClearFaults()
			_, err := c.Clients().Kube.CoreV1().ConfigMaps("default").Get(context.Background(), "cm", metav1.GetOptions{})
			assert.NoError(t, err, "ClearFaults removes every fault")
		})
	}
}

func TestDelayWaitsOnFakeTime(t *testing.T) {
	c := newTestCluster(t, WithObjects(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "default"}}))
	c.Delay("get", "configmaps", 5*time.Second)
	got := make(chan error, 1)
	go func() {
		_, err := c.Clients().Dynamic.Resource(configMapsGVR).Namespace("default").Get(context.Background(), "cm", metav1.GetOptions{})
		got <- err
	}()
	ctx := testCtx(t)
	// Wait until the call is blocked on its timer, then move time.
	for c.Clock().Waiters() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the delayed call never started waiting")
		case <-c.Clock().adv.subscribe():
		}
	}
	select {
	case <-got:
		t.Fatal("returned before the delay")
	default:
	}
	c.Clock().Step(5 * time.Second)
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("delayed call never returned")
	}
}

func TestRequestCounts(t *testing.T) {
	c := newTestCluster(t)
	ctx := context.Background()
	cms := c.Clients().Kube.CoreV1().ConfigMaps("default")
	_, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cms.Get(ctx, "cm", metav1.GetOptions{})
	require.NoError(t, err)
	_, err = c.Clients().Dynamic.Resource(configMapsGVR).Namespace("default").Get(ctx, "cm", metav1.GetOptions{})
	require.NoError(t, err)
	_, err = c.Clients().Kube.AppsV1().Deployments("default").Create(ctx, testDeployment("web", 2, "v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	step(t, c, time.Second)
	rc := c.Requests()
	assert.Equal(t, 1, rc[RequestKey{"create", "configmaps"}])
	assert.Equal(t, 2, rc.Count("get", "configmaps"))
	assert.Equal(t, 4, rc.Total(), "the controllers' own writes are not counted:\n%s", rc)
	c.ResetRequests()
	assert.Zero(t, c.Requests().Total())
}

package objcache_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/objcache"
)

// TestObserveReadsYourWritesAndIgnoresOlderEvents writes through a client,
// hands the written object to the cache at once, and checks that the
// watch's older events do not take it back.
func TestObserveReadsYourWritesAndIgnoresOlderEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := fake.NewCluster()
	defer c.Stop()
	cms := c.Clients().Kube.CoreV1().ConfigMaps("default")
	first, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	cache := objcache.New[*corev1.ConfigMap](objcache.For(cms.List, cms.Watch), c.Clock())
	require.NoError(t, cache.Start(ctx))

	second := first.DeepCopy()
	second.Data["v"] = "2"
	second, err = cms.Update(ctx, second, metav1.UpdateOptions{})
	require.NoError(t, err)
	third := second.DeepCopy()
	third.Data["v"] = "3"
	third, err = cms.Update(ctx, third, metav1.UpdateOptions{})
	require.NoError(t, err)

	cache.Observe(third)
	got, ok := cache.Get("default", "cm")
	require.True(t, ok)
	assert.Equal(t, "3", got.Data["v"], "the write is read at once")

	cache.Observe(second) // an older write changes nothing
	got, _ = cache.Get("default", "cm")
	assert.Equal(t, "3", got.Data["v"])

	assert.Equal(t, third.ResourceVersion, got.ResourceVersion)

	// The watch still delivers v2 and v3, then v4: v2 must not take the
	// cache back, v4 must arrive.
	fourth := third.DeepCopy()
	fourth.Data["v"] = "4"
	_, err = cms.Update(ctx, fourth, metav1.UpdateOptions{})
	require.NoError(t, err)
	for {
		ch := cache.Changed()
		got, _ = cache.Get("default", "cm")
		if got.Data["v"] == "4" {
			break
		}
		assert.Equal(t, "3", got.Data["v"], "never older than the observed write")
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("the watch never delivered v4")
		}
	}
}

package bluegreen_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/strategy"
)

func TestPreviewReplicasAndDelayedPromotion(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	spec := baseSpec()
	_, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v1"))
	require.NoError(t, err)

	spec.PreviewReplicas = ptr.To[int32](1)
	spec.AutoPromotionAfter = 10 * time.Minute
	var previewSize int32
	var switched time.Time
	spec.PrePromotion = []strategy.Check{{Name: "size", Func: func(_ context.Context, in strategy.CheckInput) error {
		previewSize = observe(t, c).Green.Available
		return nil
	}}}
	obs := strategy.WithObserver(func(e strategy.Event) {
		if e.Type == strategy.EventTraffic {
			switched = e.Time
		}
	})
	start := c.Clock().Now()
	_, err = newStrategy(c, spec, "driver-a", obs).Run(ctx, release("v2"))
	require.NoError(t, err)
	assert.EqualValues(t, 1, previewSize, "the preview runs at PreviewReplicas")
	// 1s for the preview pod to start, then 10m of auto-promotion delay,
	// then the two more pods of the full size.
	assert.Equal(t, start.Add(time.Second+10*time.Minute+time.Second), switched)
	assert.Equal(t, slotState{"v2", 3, 3}, observe(t, c).Green)
}

func TestRoleMetadataAndAntiAffinity(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	spec := baseSpec()
	spec.AntiAffinity = true
	spec.PreviewMetadata = bluegreen.PodMetadata{Labels: map[string]string{"role": "preview"}}
	spec.ActiveMetadata = bluegreen.PodMetadata{Labels: map[string]string{"role": "active"}, Annotations: map[string]string{"serving": "yes"}}
	var previewRoles []string
	spec.PrePromotion = []strategy.Check{{Name: "roles", Func: func(_ context.Context, in strategy.CheckInput) error {
		pods, err := c.Clients().Kube.CoreV1().Pods(app.Namespace).List(ctx, metav1.ListOptions{LabelSelector: strategy.LabelSlot + "=blue"})
		require.NoError(t, err)
		for _, p := range pods.Items {
			previewRoles = append(previewRoles, p.Labels["role"])
		}
		return nil
	}}}
	_, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v1"))
	require.NoError(t, err)
	assert.Equal(t, []string{"preview", "preview", "preview"}, previewRoles)
	pods, err := c.Clients().Kube.CoreV1().Pods(app.Namespace).List(ctx, metav1.ListOptions{LabelSelector: strategy.LabelSlot + "=blue"})
	require.NoError(t, err)
	require.Len(t, pods.Items, 3)
	for _, p := range pods.Items {
		assert.Equal(t, "active", p.Labels["role"])
		assert.Equal(t, "yes", p.Annotations["serving"])
	}

	d, err := c.Clients().Kube.AppsV1().Deployments(app.Namespace).Get(ctx, "web-blue", metav1.GetOptions{})
	require.NoError(t, err)
	terms := d.Spec.Template.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
	require.Len(t, terms, 1)
	assert.Equal(t, map[string]string{strategy.LabelApp: "web", strategy.LabelSlot: "green"}, terms[0].PodAffinityTerm.LabelSelector.MatchLabels)
}

func TestWithoutPreviewService(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	s := newStrategy(c, bluegreen.Spec{ActiveService: "web"}, "driver-a")
	for _, rev := range []string{"v1", "v2"} {
		_, err := s.Run(ctx, release(rev))
		require.NoError(t, err)
	}
	got := observe(t, c)
	assert.Equal(t, "green", got.Active)
	assert.Empty(t, got.Preview)
	assert.Equal(t, slotState{"v2", 3, 3}, got.Green)
}

func TestInconclusiveCheckPausesForADecision(t *testing.T) {
	for _, decision := range []string{"promote", "abort"} {
		t.Run(decision, func(t *testing.T) {
			ctx := testCtx(t)
			c := newCluster(t)
			spec := baseSpec()
			_, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v1"))
			require.NoError(t, err)
			spec.PrePromotion = []strategy.Check{{Name: "no-data", Func: func(context.Context, strategy.CheckInput) error {
				return fmt.Errorf("no samples yet: %w", strategy.ErrInconclusive)
			}}}
			done := make(chan error, 1)
			go func() { _, err := newStrategy(c, spec, "driver-a").Run(ctx, release("v2")); done <- err }()
			waitPhase(t, c, strategy.PhasePaused)
			control := strategy.NewControl(c.Clients().Kube, strategy.WithIdentity("operator"))
			st, err := control.Status(ctx, app)
			require.NoError(t, err)
			assert.Contains(t, st.Message, "no samples yet")
			assert.Equal(t, "blue", observe(t, c).Active, "an inconclusive check never passes on its own")
			require.NoError(t, control.Resume(ctx, app))
			require.NoError(t, c.WaitIdle(ctx))
			st, err = control.Status(ctx, app)
			require.NoError(t, err)
			assert.Equal(t, strategy.PhasePaused, st.Phase, "Resume does not decide")
			if decision == "promote" {
				require.NoError(t, control.Promote(ctx, app))
				require.NoError(t, <-done)
				assert.Equal(t, "green", observe(t, c).Active)
				return
			}
			require.NoError(t, control.Abort(ctx, app))
			require.ErrorIs(t, <-done, strategy.ErrAborted)
			assert.Equal(t, "blue", observe(t, c).Active)
		})
	}
}

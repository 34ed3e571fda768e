package bluegreen_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/strategy"
)

func TestBadInputIsRejectedBeforeAnyWrite(t *testing.T) {
	unsteerable := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: app.Namespace},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"tier": "db"}}}
	cases := map[string]struct {
		spec  func(*bluegreen.Spec)
		rel   func(*strategy.Release)
		paths []string
	}{
		"no active service":    {spec: func(s *bluegreen.Spec) { s.ActiveService = "" }, paths: []string{"spec.activeService"}},
		"unknown service":      {spec: func(s *bluegreen.Spec) { s.ActiveService = "nope" }, paths: []string{"spec.activeService"}},
		"preview is active":    {spec: func(s *bluegreen.Spec) { s.PreviewService = "web" }, paths: []string{"spec.previewService"}},
		"cannot steer":         {spec: func(s *bluegreen.Spec) { s.ActiveService = "other" }, paths: []string{"spec.activeService"}},
		"negative delay":       {spec: func(s *bluegreen.Spec) { s.ScaleDownDelay = ptr.To(-time.Second) }, paths: []string{"spec.scaleDownDelay"}},
		"negative abort delay": {spec: func(s *bluegreen.Spec) { s.AbortScaleDownDelay = ptr.To(-time.Second) }, paths: []string{"spec.abortScaleDownDelay"}},
		"negative deadline":    {spec: func(s *bluegreen.Spec) { s.ProgressDeadline = -time.Minute }, paths: []string{"spec.progressDeadline"}},
		"manual and auto":      {spec: func(s *bluegreen.Spec) { s.ManualPromotion, s.AutoPromotionAfter = true, time.Minute }, paths: []string{"spec.autoPromotionAfter"}},
		"window of two":        {spec: func(s *bluegreen.Spec) { s.RollbackWindow = ptr.To(2) }, paths: []string{"spec.rollbackWindow"}},
		"preview too big":      {spec: func(s *bluegreen.Spec) { s.PreviewReplicas = ptr.To[int32](5) }, paths: []string{"spec.previewReplicas"}},
		"check without func":   {spec: func(s *bluegreen.Spec) { s.PrePromotion = []strategy.Check{{Name: "x"}} }, paths: []string{"spec.prePromotion[0].func"}},
		"selector mismatch": {
			rel:   func(r *strategy.Release) { r.Workload.Spec.Selector.MatchLabels = map[string]string{"app": "api"} },
			paths: []string{"release.workload.spec.selector"},
		},
		"bad app name": {
			rel:   func(r *strategy.Release) { r.App = types.NamespacedName{Namespace: app.Namespace, Name: "Web.App"} },
			paths: []string{"release.app.name"},
		},
		"no workload": {rel: func(r *strategy.Release) { r.Workload = nil }, paths: []string{"release.workload"}},
		"several at once": {
			spec:  func(s *bluegreen.Spec) { s.ScaleDownDelay = ptr.To(-time.Second); s.RollbackWindow = ptr.To(3) },
			rel:   func(r *strategy.Release) { r.Revision = "" },
			paths: []string{"spec.scaleDownDelay", "spec.rollbackWindow", "release.revision"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, unsteerable)
			spec := baseSpec()
			if tc.spec != nil {
				tc.spec(&spec)
			}
			rel := release("v1")
			if tc.rel != nil {
				tc.rel(&rel)
			}
			c.ResetRequests()
			_, err := newStrategy(c, spec, "driver-a").Run(testCtx(t), rel)
			var ve *strategy.ValidationError
			require.ErrorAs(t, err, &ve)
			for _, p := range tc.paths {
				assert.True(t, ve.Has(p), "want %s in %v", p, err)
			}
			for k, n := range c.Requests() {
				assert.Contains(t, []string{"get", "list"}, k.Verb, "%d %s requests before the error", n, k)
			}
		})
	}
}

func TestNewReleaseMidFlightReplacesTheCandidate(t *testing.T) {
	ctx := testCtx(t)
	c := newCluster(t)
	_, err := newStrategy(c, baseSpec(), "driver-a").Run(ctx, release("v1"))
	require.NoError(t, err)
	blue := observe(t, c).Blue

	spec := baseSpec()
	spec.ManualPromotion = true
	first := make(chan *strategy.Result, 1)
	go func() { res, _ := newStrategy(c, spec, "driver-a").Run(ctx, release("v2")); first <- res }()
	waitPhase(t, c, strategy.PhasePaused)

	second := make(chan error, 1)
	go func() { _, err := newStrategy(c, spec, "driver-b").Run(ctx, release("v3")); second <- err }()
	res := <-first
	require.ErrorIs(t, res.Err(), strategy.ErrSuperseded)
	assert.Contains(t, res.Message, "replaced by v3")

	waitPhase(t, c, strategy.PhasePaused)
	paused := observe(t, c)
	assert.Equal(t, "v3", paused.Revision)
	assert.Equal(t, slotState{"v3", 3, 3}, paused.Green, "v3 took the candidate slot over")
	assert.Equal(t, blue, paused.Blue, "the live slot was never touched")
	assert.Equal(t, "blue", paused.Active)

	require.NoError(t, strategy.NewControl(c.Clients().Kube).Promote(ctx, app))
	require.NoError(t, <-second)
	assert.Equal(t, endState{Blue: blue, Green: slotState{"v3", 3, 3}, Active: "green", Preview: "green",
		Phase: strategy.PhaseSucceeded, Revision: "v3", Stable: "v3"}, observe(t, c))
}

package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/webhook"
)

// These tests run blue/green releases on the fake cluster, whose clock
// moves itself whenever every participant waits.

func release(rev string) strategy.Release {
	labels := map[string]string{"app": "web"}
	return strategy.Release{App: app, Revision: rev, Workload: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](2),
		Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:" + rev,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		},
	}}}
}

func newCluster(t *testing.T) *fake.Cluster {
	t.Helper()
	c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app.Namespace}}))
	t.Cleanup(c.Stop)
	return c
}

func blueGreen(c *fake.Cluster, gate strategy.Check, opts ...strategy.Option) *bluegreen.Strategy {
	return bluegreen.New(c.Clients(), bluegreen.Spec{
		ActiveService: "web", PreviewService: "web-preview",
		ServicePorts: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		PrePromotion: []strategy.Check{gate},
	}, append([]strategy.Option{strategy.WithClock(c.Clock())}, opts...)...)
}

// gateServer answers a Gate: 200 for the revisions in pass, 500 for the
// others. It checks each signature against the cluster's clock.
type gateServer struct {
	*httptest.Server
	mu       sync.Mutex
	payloads []webhook.Payload
	badSigs  int
}

func newGateServer(t *testing.T, c *fake.Cluster, pass ...string) *gateServer {
	g := &gateServer{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p webhook.Payload
		_ = json.Unmarshal(body, &p)
		g.mu.Lock()
		defer g.mu.Unlock()
		if webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, c.Clock().Now(), time.Minute) != nil {
			g.badSigs++
		}
		g.payloads = append(g.payloads, p)
		for _, rev := range pass {
			if p.Revision == rev {
				return
			}
		}
		http.Error(w, "smoke tests failed", http.StatusInternalServerError)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gateServer) seen() ([]webhook.Payload, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]webhook.Payload(nil), g.payloads...), g.badSigs
}

func smokeGate(url string) strategy.Check {
	return webhook.Gate("smoke", url, webhook.At(webhook.BeforePromotion), webhook.ForStrategy("bluegreen"), webhook.WithSecret(secret))
}

func TestBlueGreenGateFailureAbortsTheRelease(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	c := newCluster(t)
	srv := newGateServer(t, c, "v1")
	s := blueGreen(c, smokeGate(srv.URL))
	_, err := s.Run(ctx, release("v1"))
	require.NoError(t, err)

	res, err := s.Run(ctx, release("v2"))
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
	require.NotNil(t, res)
	assert.Equal(t, strategy.PhaseAborted, res.Phase)
	assert.Equal(t, "v1", res.Stable)
	assert.Contains(t, res.Message, "500 Internal Server Error: smoke tests failed")

	payloads, badSigs := srv.seen()
	assert.Zero(t, badSigs, "every request is signed")
	require.Len(t, payloads, 1+webhook.DefaultAttempts, "v1 once, v2 until the gate gave up")
	for i, p := range payloads[1:] {
		assert.Equal(t, webhook.BeforePromotion, p.Moment)
		assert.Equal(t, "bluegreen", p.Strategy)
		assert.Equal(t, "smoke", p.Check)
		assert.Equal(t, "v2", p.Revision)
		assert.Equal(t, "v1", p.StableRevision)
		assert.Equal(t, "web-preview", p.Service)
		assert.Equal(t, "web-green", p.Slot)
		assert.Equal(t, i+1, p.Attempt)
	}
	svc, err := c.Clients().Kube.CoreV1().Services(app.Namespace).Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "blue", svc.Spec.Selector[strategy.LabelSlot], "traffic never left v1")
}

func TestBlueGreenGatePassesAndNotifies(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	c := newCluster(t)
	gate := newGateServer(t, c, "v1", "v2")
	generic, slack := newServer(t), newServer(t)
	events := webhook.NewNotifier(generic.URL, webhook.WithQueueSize(10_000))
	summaries := webhook.NewNotifier(slack.URL, webhook.Slack(), webhook.Only(strategy.EventRunFinished))
	var mu sync.Mutex
	var observed []strategy.Event
	s := blueGreen(c, smokeGate(gate.URL), strategy.WithObserver(events.Observer()), strategy.WithObserver(summaries.Observer()),
		strategy.WithObserver(func(e strategy.Event) {
			mu.Lock()
			observed = append(observed, e)
			mu.Unlock()
		}))
	for _, rev := range []string{"v1", "v2"} {
		res, err := s.Run(ctx, release(rev))
		require.NoError(t, err)
		assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
	}
	require.NoError(t, events.Close(ctx))
	require.NoError(t, summaries.Close(ctx))

	payloads, badSigs := gate.seen()
	assert.Zero(t, badSigs)
	require.Len(t, payloads, 2)
	assert.Equal(t, "v2", payloads[1].Revision)

	mu.Lock()
	defer mu.Unlock()
	got := notifications(t, generic)
	require.Len(t, got, len(observed), "every event, none dropped")
	for i, n := range got {
		e := observed[i]
		assert.Equal(t, uint64(i+1), n.Seq)
		assert.Equal(t, e.Type, n.Type, "event %d", i)
		assert.Equal(t, e.Revision, n.Revision)
		assert.Equal(t, e.Message, n.Message)
		assert.True(t, e.Time.Equal(n.Time))
	}
	assert.Equal(t, webhook.Stats{Sent: uint64(len(observed))}, events.Stats())

	var texts []string
	for _, r := range slack.requests() {
		var m webhook.SlackMessage
		require.NoError(t, json.Unmarshal(r.body, &m))
		texts = append(texts, m.Text)
	}
	require.Len(t, texts, 2)
	assert.Contains(t, texts[0], "[bluegreen] shop/web v1: RunFinished")
	assert.Contains(t, texts[1], "[bluegreen] shop/web v2: RunFinished")
	assert.Contains(t, texts[1], "phase Succeeded")
}

package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// testTimeout bounds each test; every wait in it is on a watch or a
// channel, never a sleep.
const testTimeout = 60 * time.Second

// harness is a fake cluster with the app web in namespace default, and
// the plugin run against it.
type harness struct {
	t       *testing.T
	ctx     context.Context
	c       *fake.Cluster
	app     types.NamespacedName
	control *strategy.Control // the test's own, to wait for phases
}

// newHarness returns a harness on a fake cluster whose clock moves on by
// itself whenever every release and wait is idle.
func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessOn(t, fake.NewCluster(fake.WithAutoAdvance()))
}

// newHarnessOn returns a harness on c, which it stops at the end.
func newHarnessOn(t *testing.T, c *fake.Cluster) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(func() { cancel(); c.Stop() })
	return &harness{t: t, ctx: ctx, c: c, app: types.NamespacedName{Namespace: "default", Name: "web"},
		control: strategy.NewControl(c.Clients().Kube, strategy.WithClock(c.Clock()), strategy.WithIdentity("test"))}
}

// result is what one run of the plugin did.
type result struct {
	code     int
	out, err string
}

// run runs the plugin with args, as the identity "oncall".
func (h *harness) run(args ...string) result {
	return h.runCtx(h.ctx, nil, args...)
}

// runCtx runs the plugin under ctx, writing its output to out when set.
func (h *harness) runCtx(ctx context.Context, out *syncBuffer, args ...string) result {
	if out == nil {
		out = &syncBuffer{}
	}
	var errOut syncBuffer
	code := Run(ctx, args, Streams{Out: out, Err: &errOut},
		WithKube(h.c.Clients().Kube, "default"), WithClock(h.c.Clock()), WithIdentity("oncall"))
	return result{code: code, out: out.String(), err: errOut.String()}
}

// strategy is a blue/green strategy for web with short delays; manual
// releases pause before the switch until Promote.
func (h *harness) strategy(manual bool, opts ...strategy.Option) *bluegreen.Strategy {
	return bluegreen.New(h.c.Clients(), bluegreen.Spec{
		ActiveService: "web", PreviewService: "web-preview", ManualPromotion: manual,
		ServicePorts:        []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		ScaleDownDelay:      ptr.To(time.Second),
		AbortScaleDownDelay: ptr.To(time.Second),
	}, append([]strategy.Option{strategy.WithClock(h.c.Clock()), strategy.WithIdentity("driver")}, opts...)...)
}

// ship runs a release of rev to its end and requires it to succeed.
func (h *harness) ship(s strategy.Strategy, rev string) {
	h.t.Helper()
	res, err := s.Run(h.ctx, release(h.app, rev))
	require.NoError(h.t, err, "release %s", rev)
	require.Equal(h.t, strategy.PhaseSucceeded, res.Phase)
}

// outcome is how a release run in the background ended.
type outcome struct {
	res *strategy.Result
	err error
}

// start runs a release of rev in the background.
func (h *harness) start(s strategy.Strategy, rev string) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		res, err := s.Run(h.ctx, release(h.app, rev))
		ch <- outcome{res, err}
	}()
	return ch
}

// finish waits for a release started with start.
func (h *harness) finish(ch <-chan outcome) outcome {
	h.t.Helper()
	select {
	case o := <-ch:
		return o
	case <-h.ctx.Done():
		h.t.Fatalf("waiting for the release to end: %v", h.ctx.Err())
	}
	return outcome{}
}

// await waits, on a watch of the record, until cond holds.
func (h *harness) await(what string, cond func(*strategy.Status) bool) *strategy.Status {
	h.t.Helper()
	st, err := h.control.Await(h.ctx, h.app, cond)
	require.NoError(h.t, err, "waiting for %s", what)
	return st
}

// pausedV2 ships v1, then starts v2 with a manual promotion and waits
// until it is paused for it.
func (h *harness) pausedV2() <-chan outcome {
	h.t.Helper()
	return h.pausedV2With()
}

// pausedV2Held is pausedV2 with the clock held still from the moment v2
// pauses until release is called: while v2 waits, its lease renewals
// would otherwise move the clock on at its own pace, and the ages the
// plugin prints would depend on when it reads the clock. The hold is a
// busy participant, registered by the driver itself (busy in its
// observer), so the clock cannot move in between.
func (h *harness) pausedV2Held() (done <-chan outcome, release func()) {
	h.t.Helper()
	var mu sync.Mutex
	held := func() {}
	hold := strategy.WithObserver(func(ev strategy.Event) {
		if ev.Type == strategy.EventPhaseChanged && ev.Phase == strategy.PhasePaused {
			_, _, end := h.c.Clock().Track()
			mu.Lock()
			held = end
			mu.Unlock()
		}
	})
	done = h.pausedV2With(hold)
	return done, func() {
		mu.Lock()
		defer mu.Unlock()
		held()
	}
}

func (h *harness) pausedV2With(opts ...strategy.Option) <-chan outcome {
	h.t.Helper()
	h.ship(h.strategy(false), "v1")
	done := h.start(h.strategy(true, opts...), "v2")
	h.await("v2 paused for promotion", func(st *strategy.Status) bool {
		return st.Revision == "v2" && st.Phase == strategy.PhasePaused
	})
	return done
}

func release(app types.NamespacedName, rev string) strategy.Release {
	labels := map[string]string{"app": app.Name}
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

// syncBuffer is a buffer one goroutine writes while another waits for
// text in it.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the buffer holds s, or ctx ends.
func (b *syncBuffer) waitFor(ctx context.Context, s string) bool {
	for {
		b.mu.Lock()
		if strings.Contains(b.buf.String(), s) {
			b.mu.Unlock()
			return true
		}
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

package strategy_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// spans records span names with their parents; it implements only what the
// driver uses of the OpenTelemetry trace API.
type spans struct {
	tracenoop.TracerProvider
	mu    sync.Mutex
	names []string // "parent>child"
	ended int
}

type recTracer struct {
	tracenoop.Tracer
	p *spans
}

type recSpan struct {
	tracenoop.Span
	p    *spans
	name string
}

func (s *spans) Tracer(string, ...trace.TracerOption) trace.Tracer { return recTracer{p: s} }

func (t recTracer) Start(ctx context.Context, name string, _ ...trace.SpanStartOption) (context.Context, trace.Span) {
	parent := ""
	if ps, ok := trace.SpanFromContext(ctx).(*recSpan); ok {
		parent = ps.name
	}
	t.p.mu.Lock()
	t.p.names = append(t.p.names, parent+">"+name)
	t.p.mu.Unlock()
	sp := &recSpan{p: t.p, name: name}
	return trace.ContextWithSpan(ctx, sp), sp
}

func (s *recSpan) End(...trace.SpanEndOption) {
	s.p.mu.Lock()
	s.p.ended++
	s.p.mu.Unlock()
}

// counters records Int64Counter additions by name and attributes.
type counters struct {
	metricnoop.MeterProvider
	mu   sync.Mutex
	adds map[string]int64
}

type recMeter struct {
	metricnoop.Meter
	p *counters
}

type recCounter struct {
	metricnoop.Int64Counter
	p    *counters
	name string
}

func (c *counters) Meter(string, ...metric.MeterOption) metric.Meter { return recMeter{p: c} }

func (m recMeter) Int64Counter(name string, _ ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return recCounter{p: m.p, name: name}, nil
}

func (c recCounter) Add(_ context.Context, n int64, opts ...metric.AddOption) {
	set := metric.NewAddConfig(opts).Attributes()
	phase, _ := set.Value(attribute.Key("switchyard.phase"))
	c.p.mu.Lock()
	c.p.adds[c.name+"/"+phase.AsString()] += n
	c.p.mu.Unlock()
}

func TestRunIsTracedMeteredAndRecordedAsEvents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	tp := &spans{}
	mp := &counters{adds: map[string]int64{}}
	cfg := strategy.NewConfig(strategy.WithClock(e.clock), strategy.WithIdentity("driver-a"),
		strategy.WithTracerProvider(tp), strategy.WithMeterProvider(mp))
	d, err := flow.Begin(ctx, "test", e.clients(), strategy.Release{App: app, Revision: "v1"}, cfg)
	require.NoError(t, err)
	require.NoError(t, d.Save(ctx, func(r *record.Record) error {
		r.Revision, r.Phase, r.Started = "v1", strategy.PhaseProgressing, e.clock.Now()
		return nil
	}))
	for i, name := range []string{"apply", "check"} {
		_, end := d.StartStep(ctx, i, name)
		end(nil)
	}
	// The same failure twice is one Event with a count of two.
	for range 2 {
		d.Emit(ctx, strategy.Event{Type: strategy.EventStepFailed, StepName: "check", Err: errors.New("error rate 7% above 5%")})
	}
	res, err := d.Finish(ctx, strategy.PhaseSucceeded, "", "done", strategy.Revision{})
	require.NoError(t, err)
	assert.Equal(t, strategy.PhaseSucceeded, res.Phase)

	tp.mu.Lock()
	assert.Equal(t, []string{">switchyard.test.run", "switchyard.test.run>switchyard.test.step", "switchyard.test.run>switchyard.test.step"}, tp.names,
		"one span per run, a child per step")
	assert.Equal(t, 3, tp.ended, "every span ends")
	tp.mu.Unlock()
	assert.Equal(t, map[string]int64{"switchyard.runs/Succeeded": 1}, mp.adds)

	events, err := e.kube.CoreV1().Events(app.Namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	byReason := map[string]corev1.Event{}
	for _, ev := range events.Items {
		assert.Equal(t, strategy.RecordName(app.Name), ev.InvolvedObject.Name)
		byReason[ev.Reason] = ev
	}
	failed, ok := byReason[string(strategy.EventStepFailed)]
	require.True(t, ok, "events: %v", byReason)
	assert.EqualValues(t, 2, failed.Count)
	assert.Equal(t, corev1.EventTypeWarning, failed.Type)
	assert.Contains(t, failed.Message, "error rate 7% above 5%")
	assert.Equal(t, "v1: error rate 7% above 5%", failed.Message)
	assert.Contains(t, byReason, string(strategy.EventRunFinished))
	for _, routine := range []strategy.EventType{strategy.EventStepStarted, strategy.EventPhaseChanged, strategy.EventLeaseAcquired} {
		assert.NotContains(t, byReason, string(routine), "routine progress goes to the observer, not to Events")
	}

	quiet := strategy.NewConfig(strategy.WithClock(e.clock), strategy.WithIdentity("driver-b"), strategy.WithEvents(false))
	d2, err := flow.Begin(ctx, "test", e.clients(), strategy.Release{App: app, Revision: "v1"}, quiet)
	require.NoError(t, err)
	d2.Close()
	after, err := e.kube.CoreV1().Events(app.Namespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, after.Items, len(events.Items), "WithEvents(false) writes no Events")
}

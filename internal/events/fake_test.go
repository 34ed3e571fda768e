package events_test

// These tests run the Sink against the fake cluster, which imports the
// packages that use this one: they live in an external test package.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/internal/events"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

var app = events.App

func newCluster() *fake.Cluster {
	return fake.NewCluster(fake.WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app.Namespace}}))
}

func TestEmitWritesAnEventAboutTheRecord(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := newCluster()
	defer c.Stop()
	kube := c.Clients().Kube
	s := events.New(kube, c.Clock())
	defer s.Close()

	s.Emit(app, "driver-a", true, "StepFailed", "v2: boom")
	s.Emit(app, "driver-a", false, "RunFinished", "v2: done")
	events.WaitFor(t, "two Events", func() bool { return len(events.ListEvents(t, kube)) == 2 })

	evs := events.ByMessage(events.ListEvents(t, kube))
	failed, finished := evs["v2: boom"], evs["v2: done"]
	assert.Equal(t, corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: app.Namespace,
		Name: record.Name(app.Name)}, failed.InvolvedObject)
	assert.Equal(t, "StepFailed", failed.Reason)
	assert.Equal(t, corev1.EventTypeWarning, failed.Type)
	assert.Equal(t, corev1.EventTypeNormal, finished.Type)
	assert.Equal(t, int32(1), failed.Count)
	assert.Equal(t, map[string]string{record.LabelManagedBy: record.ManagedBy, record.LabelApp: app.Name}, failed.Labels)
	assert.Equal(t, corev1.EventSource{Component: "switchyard", Host: "driver-a"}, failed.Source)
	assert.Equal(t, "switchyard.dev/driver", failed.ReportingController)
	assert.Equal(t, "driver-a", failed.ReportingInstance)
	assert.True(t, failed.FirstTimestamp.Time.Equal(c.Clock().Now()), "FirstTimestamp %v", failed.FirstTimestamp)
	assert.True(t, failed.LastTimestamp.Time.Equal(c.Clock().Now()), "LastTimestamp %v", failed.LastTimestamp)
	assert.NotEqual(t, failed.Name, finished.Name)

	// The labels select them, as the RBAC end-to-end test does.
	l, err := kube.CoreV1().Events(app.Namespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: record.LabelManagedBy + "=" + record.ManagedBy + "," + record.LabelApp + "=" + app.Name})
	require.NoError(t, err)
	assert.Len(t, l.Items, 2)
}

func TestRepeatsAreCountedOnOneEvent(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := newCluster()
	defer c.Stop()
	kube, clk := c.Clients().Kube, c.Clock()
	s := events.New(kube, clk)
	defer s.Close()

	first := clk.Now()
	s.Emit(app, "driver-a", false, "PhaseChanged", "v2: paused")
	clk.Step(time.Minute)
	s.Emit(app, "driver-a", false, "PhaseChanged", "v2: paused")
	clk.Step(time.Minute)
	s.Emit(app, "driver-a", false, "PhaseChanged", "v2: paused")
	s.Emit(app, "driver-a", false, "PhaseChanged", "v3: paused") // another message
	s.Emit(app, "driver-b", false, "PhaseChanged", "v2: paused") // another driver

	events.WaitFor(t, "the repeat counted three times", func() bool {
		evs := events.ListEvents(t, kube)
		for _, ev := range evs {
			if ev.Message == "v2: paused" && ev.Source.Host == "driver-a" && ev.Count == 3 {
				return len(evs) == 3
			}
		}
		return false
	})
	for _, ev := range events.ListEvents(t, kube) {
		switch {
		case ev.Message == "v2: paused" && ev.Source.Host == "driver-a":
			assert.True(t, ev.FirstTimestamp.Time.Equal(first), "FirstTimestamp %v", ev.FirstTimestamp)
			assert.True(t, ev.LastTimestamp.Time.Equal(first.Add(2*time.Minute)), "LastTimestamp %v", ev.LastTimestamp)
			assert.Equal(t, app.Name, ev.Labels[record.LabelApp])
		default:
			assert.Equal(t, int32(1), ev.Count, "%s from %s", ev.Message, ev.Source.Host)
		}
	}
	// One create per Event, one update per repeat.
	reqs := c.Requests()
	assert.Equal(t, 3, reqs.Count("create", "events"), reqs.String())
	assert.Equal(t, 2, reqs.Count("update", "events"), reqs.String())
}

// TestSimilarEventsAreCombined checks the correlator's aggregation, and
// that Events it combines at one instant of a still fake clock get names
// of their own and keep the labels.
func TestSimilarEventsAreCombined(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := newCluster()
	defer c.Stop()
	kube := c.Clients().Kube
	s := events.New(kube, c.Clock())
	defer s.Close()

	for _, reason := range []string{"StepFailed", "RequestHandled"} {
		for i := range 10 {
			s.Emit(app, "driver-a", false, reason, fmt.Sprintf("v%d: %s", i, reason))
		}
	}
	s.Emit(app, "driver-a", false, "StepFailed", "v10: StepFailed")
	combined := func() []corev1.Event {
		var out []corev1.Event
		for _, ev := range events.ListEvents(t, kube) {
			if strings.HasPrefix(ev.Message, "(combined from similar events): ") {
				out = append(out, ev)
			}
		}
		return out
	}
	events.WaitFor(t, "two combined Events, one counted twice", func() bool {
		cs := combined()
		return len(cs) == 2 && cs[0].Count+cs[1].Count == 3
	})
	assert.Len(t, events.ListEvents(t, kube), 20, "9 single Events and a combined one per reason")
	for _, ev := range combined() {
		assert.Equal(t, map[string]string{record.LabelManagedBy: record.ManagedBy, record.LabelApp: app.Name}, ev.Labels)
		assert.Equal(t, "switchyard.dev/driver", ev.ReportingController)
		assert.Equal(t, "driver-a", ev.ReportingInstance)
		if ev.Reason == "StepFailed" {
			assert.Equal(t, int32(2), ev.Count)
			assert.Equal(t, "(combined from similar events): v10: StepFailed", ev.Message)
		}
	}
}

func TestFailedWritesAreRetriedOrDropped(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := newCluster()
	defer c.Stop()
	kube := c.Clients().Kube
	s := events.New(kube, c.Clock(), events.WithRetryInterval(time.Millisecond))

	c.FailRequests("create", "events", apierrors.NewServiceUnavailable("down"), 3)
	s.Emit(app, "driver-a", false, "RunFinished", "v1: done")
	events.WaitFor(t, "the Event written after three failures", func() bool { return len(events.ListEvents(t, kube)) == 1 })
	assert.Equal(t, 4, c.Requests().Count("create", "events"))

	c.FailRequests("create", "events", apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "", nil), 1)
	s.Emit(app, "driver-a", false, "RunFinished", "v2: done") // forbidden: dropped, not retried
	s.Emit(app, "driver-a", false, "RunFinished", "v3: done")
	s.Close()
	evs := events.ByMessage(events.ListEvents(t, kube))
	assert.Len(t, evs, 2)
	assert.Contains(t, evs, "v1: done")
	assert.Contains(t, evs, "v3: done")
}

package strategy

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// EventType says what happened.
type EventType string

// The event types every strategy emits. Strategies may add their own.
const (
	EventRunStarted     EventType = "RunStarted"
	EventResumed        EventType = "Resumed"
	EventLeaseAcquired  EventType = "LeaseAcquired"
	EventTakenOver      EventType = "TakenOver" // the lease of a driver that stopped had lapsed
	EventStepStarted    EventType = "StepStarted"
	EventStepSucceeded  EventType = "StepSucceeded"
	EventStepFailed     EventType = "StepFailed"
	EventPhaseChanged   EventType = "PhaseChanged"
	EventRequestHandled EventType = "RequestHandled"
	EventWaiting        EventType = "Waiting"
	EventRetrying       EventType = "Retrying"
	EventCheck          EventType = "Check"
	EventTraffic        EventType = "Traffic"
	EventRunFinished    EventType = "RunFinished"
	// EventMeasurement carries one measurement of an analysis in
	// Event.Measurement; the driver keeps the latest in the record.
	EventMeasurement EventType = "Measurement"
)

// Measurement is one measurement of an analysis metric, as events carry it
// and the release record keeps it (the most recent MeasurementLimit).
type Measurement struct {
	// Analysis names the check or background analysis that took it.
	Analysis string `json:"analysis,omitempty"`
	Metric   string `json:"metric"`
	// Phase is the measurement's verdict: Successful, Failed, Error,
	// Inconclusive, or Running for a sequential judge not decided yet.
	Phase string `json:"phase"`
	// Value is the measured value as text, "" when there was none.
	Value string    `json:"value,omitempty"`
	Time  time.Time `json:"time"`
	// Message says why, in one line: the condition that failed with the
	// observed value, or the provider's error.
	Message string `json:"message,omitempty"`
}

// MeasurementLimit is how many measurements a release record keeps.
const MeasurementLimit = 50

// Event is one thing that happened during a Run, as the observer sees it.
type Event struct {
	Time     time.Time
	Type     EventType
	Strategy string
	App      types.NamespacedName
	Revision string
	Phase    Phase
	// Step is the index of the step in the release's plan, StepName its
	// name, and StepKind what it does: for canary, "SetWeight", "Pause",
	// "Analysis", ... (its StepName is "<index>-<kind>", e.g.
	// "0-SetWeight"); for the other strategies the same as StepName.
	Step     int
	StepName string
	StepKind string
	// Traffic is set on EventTraffic: how the app's traffic is split now.
	Traffic *Traffic
	// Object names the object the event is about, as "Kind namespace/name",
	// for strategies that work object by object (bootstrap).
	Object  string
	Message string
	// Err is set on failures and retries.
	Err error
	// Measurement is set on EventMeasurement.
	Measurement *Measurement
}

func (e Event) String() string {
	s := fmt.Sprintf("%s %s %s", e.Type, e.App, e.Revision)
	if e.StepName != "" {
		s += fmt.Sprintf(" step %d (%s)", e.Step, e.StepName)
	}
	if e.Object != "" {
		s += " " + e.Object
	}
	if e.Phase != "" {
		s += " phase " + string(e.Phase)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Traffic is how an app's traffic is split, as an event reports it.
type Traffic struct {
	// Weight is the new revision's share of requests in percent, as set
	// (the router's weight, or the split of replicas without one).
	Weight int32
	// CanaryPods and StablePods are the sizes of the new revision's slot
	// and of the stable one.
	CanaryPods, StablePods int32
	// Service and Slot say which Service selects which slot, for a
	// selector switch (blue/green).
	Service, Slot string
}

// Observer receives events synchronously; it must return quickly. A
// driver never calls it from two goroutines at once.
type Observer func(Event)

// eventRecorder writes corev1 Events about the release record, counting
// repeats of the same reason and message on one Event object instead of
// creating a new one each time.
type eventRecorder struct {
	kube  kubernetes.Interface
	clock clock.PassiveClock
	app   types.NamespacedName
	by    string
	last  map[string]*corev1.Event // reason+message -> the Event written
}

func (r *eventRecorder) record(ctx context.Context, warning bool, reason, message string) {
	if r == nil {
		return
	}
	now := metav1.NewTime(r.clock.Now())
	key := reason + "\x00" + message
	events := r.kube.CoreV1().Events(r.app.Namespace)
	if prev, ok := r.last[key]; ok {
		ev := prev.DeepCopy()
		ev.Count++
		ev.LastTimestamp = now
		if out, err := events.Update(ctx, ev, metav1.UpdateOptions{}); err == nil {
			r.last[key] = out
			return
		}
	}
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	if len(message) > 1024 {
		message = message[:1021] + "..."
	}
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: RecordName(r.app.Name) + ".",
			Namespace:    r.app.Namespace,
			Labels:       map[string]string{LabelManagedBy: ManagedBy, LabelApp: r.app.Name},
		},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1", Kind: "ConfigMap", Namespace: r.app.Namespace, Name: RecordName(r.app.Name),
		},
		Reason:              reason,
		Message:             message,
		Type:                typ,
		Count:               1,
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Source:              corev1.EventSource{Component: "switchyard"},
		ReportingController: "switchyard.dev/driver",
		ReportingInstance:   r.by,
	}
	// Events are best effort: a failure to write one never fails a release.
	if out, err := events.Create(ctx, ev, metav1.CreateOptions{}); err == nil {
		if r.last == nil {
			r.last = map[string]*corev1.Event{}
		}
		r.last[key] = out
	}
}

package strategy

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
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

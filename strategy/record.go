package strategy

import (
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy/record"
)

// The release record's labels and keys (see package strategy/record).
const (
	// LabelManagedBy marks objects switchyard writes; its value is ManagedBy.
	LabelManagedBy = record.LabelManagedBy
	ManagedBy      = record.ManagedBy
	// LabelApp names the app on everything switchyard writes for it.
	LabelApp = record.LabelApp
	// LabelRevision is the pod-template label that carries a revision.
	LabelRevision = record.LabelRevision
	// LabelSlot names the slot ("blue" or "green") of a two-slot app.
	LabelSlot = record.LabelSlot
	// LabelRecord marks a ConfigMap as a release record.
	LabelRecord = record.LabelRecord
	// RecordKey is the ConfigMap data key that holds the record as JSON.
	RecordKey = record.RecordKey
	// AnnotationOwner marks an object switchyard created for an app's
	// releases: "<app>/<UID of the release record>". switchyard overwrites,
	// scales and deletes only objects with its app's mark.
	AnnotationOwner = record.AnnotationOwner
)

// RecordName returns the name of the ConfigMap that holds app's release
// record.
func RecordName(app string) string { return record.Name(app) }

// Types of the release record that Status and Event carry; package
// strategy/record documents them.
type (
	Phase       = record.Phase
	Reason      = record.Reason
	Action      = record.Action
	Request     = record.Request
	Revision    = record.Revision
	Lease       = record.Lease
	Measurement = record.Measurement
	Entry       = record.Entry
	EntryKind   = record.EntryKind
)

// The kinds of entries of a release's timeline (Status.Timeline).
const (
	EntryStep        = record.EntryStep        // a step started
	EntryStepFailed  = record.EntryStepFailed  // a step failed
	EntryPhase       = record.EntryPhase       // the phase changed: a pause, its end, promotion, the end
	EntryTraffic     = record.EntryTraffic     // the traffic split changed
	EntryRoute       = record.EntryRoute       // a header or mirror route was set or removed
	EntryRollback    = record.EntryRollback    // all traffic went back to the previous revision
	EntryMeasurement = record.EntryMeasurement // an analysis measured a metric
	EntryCheck       = record.EntryCheck       // checks started, passed or failed
	EntryRequest     = record.EntryRequest     // a control request was taken
	EntryResumed     = record.EntryResumed     // a driver continued the release
)

// The phases of a release. Succeeded, Aborted and Failed are terminal.
const (
	PhasePending     = record.PhasePending
	PhaseProgressing = record.PhaseProgressing
	PhasePaused      = record.PhasePaused
	PhasePromoting   = record.PhasePromoting
	PhaseSucceeded   = record.PhaseSucceeded
	PhaseAborted     = record.PhaseAborted
	PhaseFailed      = record.PhaseFailed
)

// Reasons a release ends other than Succeeded, each with its sentinel error.
const (
	ReasonRequested        = record.ReasonRequested        // ErrAborted
	ReasonProgressDeadline = record.ReasonProgressDeadline // ErrProgressDeadline
	ReasonAnalysisFailed   = record.ReasonAnalysisFailed   // ErrAnalysisFailed
	ReasonSuperseded       = record.ReasonSuperseded       // ErrSuperseded
)

// The control requests a release understands.
const (
	ActionPromote     = record.ActionPromote
	ActionPromoteFull = record.ActionPromoteFull
	ActionPause       = record.ActionPause
	ActionResume      = record.ActionResume
	ActionAbort       = record.ActionAbort
	ActionRetry       = record.ActionRetry
	ActionUndo        = record.ActionUndo
	ActionReplace     = record.ActionReplace
)

// MeasurementLimit is how many measurements a release record keeps,
// TimelineLimit how many timeline entries, and MaxLeaseDuration how long
// any lease is honoured without renewal.
const (
	MeasurementLimit = record.MeasurementLimit
	TimelineLimit    = record.TimelineLimit
	MaxLeaseDuration = record.MaxLeaseDuration
)

// reasonErr returns the sentinel error of reason, or nil.
func reasonErr(r Reason) error {
	switch r {
	case ReasonRequested:
		return ErrAborted
	case ReasonProgressDeadline:
		return ErrProgressDeadline
	case ReasonAnalysisFailed:
		return ErrAnalysisFailed
	case ReasonSuperseded:
		return ErrSuperseded
	}
	return nil
}

// resultOf is the outcome a record holds, as a Result.
func resultOf(app types.NamespacedName, r *record.Record) *Result {
	return &Result{Strategy: r.Strategy, App: app, Revision: r.Revision, Phase: r.Phase, Reason: r.Reason,
		Stable: r.Stable, Message: r.Message, Started: r.Started, Finished: r.Updated}
}

// Status is a read-only view of a release record.
type Status struct {
	App        types.NamespacedName
	Strategy   string
	Revision   string
	Stable     string
	Phase      Phase
	Reason     Reason
	Message    string
	Step       int
	StepName   string
	Paused     bool
	PauseUntil time.Time
	Started    time.Time
	Updated    time.Time
	Lease      Lease
	Pending    []Request
	History    []Revision
	// Measurements are the release's latest analysis measurements.
	Measurements []Measurement
	// Timeline is what the current release did, oldest first (at most
	// TimelineLimit entries; the oldest measurements go first). Package
	// strategy/timeline draws it.
	Timeline []Entry
}

func statusOf(app types.NamespacedName, r *record.Record) *Status {
	return &Status{
		App: app, Strategy: r.Strategy, Revision: r.Revision, Stable: r.Stable,
		Phase: r.Phase, Reason: r.Reason, Message: r.Message, Step: r.Step, StepName: r.StepName,
		Paused: r.Paused, PauseUntil: r.PauseUntil, Started: r.Started, Updated: r.Updated,
		Lease: r.Lease, Pending: append([]Request(nil), r.Requests...),
		History:      append([]Revision(nil), r.History...),
		Measurements: append([]Measurement(nil), r.Measurements...),
		Timeline:     append([]Entry(nil), r.Timeline...),
	}
}

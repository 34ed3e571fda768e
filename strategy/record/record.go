// Package record is the release record: the state of one app's releases,
// kept in a ConfigMap in the app's namespace so that any process can
// resume, inspect or steer them. Strategies read and write it through a
// driver (strategy/flow); programs read it through strategy.Control.
//
// Anyone who can edit ConfigMaps in the namespace can edit a record, so a
// record is input, not truth: Decode checks every field a driver acts on
// and refuses a record it cannot use with a *RecordError.
package record

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Labels and keys of the release record.
const (
	// LabelManagedBy marks objects switchyard writes.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "switchyard"
	// LabelApp names the app on the record and on everything switchyard
	// creates for it.
	LabelApp = "switchyard.dev/app"
	// LabelRevision is the pod-template label that carries a release's
	// revision.
	LabelRevision = "switchyard.dev/revision"
	// LabelSlot names the slot ("blue" or "green") of a two-slot app's
	// Deployments, pods and Service selectors.
	LabelSlot = "switchyard.dev/slot"
	// LabelRecord marks a ConfigMap as a release record.
	LabelRecord = "switchyard.dev/release-record"
	// RecordKey is the ConfigMap data key that holds the record as JSON.
	RecordKey = "record.json"
	// RecordSchema is the version of the record's JSON layout.
	RecordSchema = 1
)

// AnnotationOwner marks an object switchyard created for an app's
// releases: "<app>/<UID of the release record>". switchyard overwrites,
// scales and deletes only objects with its app's mark (see OwnerMark).
const AnnotationOwner = "switchyard.dev/owner"

// Name returns the name of the ConfigMap that holds app's release record.
func Name(app string) string { return app + Suffix }

// Suffix ends the name of every release record ConfigMap.
const Suffix = ".switchyard"

// Record is the state of one app's releases, kept in the cluster so that any
// process can resume or control them. It is written with optimistic
// concurrency: every write carries the resourceVersion it read.
type Record struct {
	Schema   int    `json:"schema"`
	App      string `json:"app"`
	Strategy string `json:"strategy,omitempty"`
	// Revision is the revision being released, or the last one released.
	Revision string `json:"revision,omitempty"`
	// Stable is the revision that serves the app's traffic.
	Stable  string `json:"stable,omitempty"`
	Phase   Phase  `json:"phase,omitempty"`
	Message string `json:"message,omitempty"`
	// Reason is why a release ended other than Succeeded: one of the
	// Reason constants.
	Reason Reason `json:"reason,omitempty"`
	// Step is the index of the current step of the strategy's plan.
	Step     int    `json:"step"`
	StepName string `json:"stepName,omitempty"`
	// Started is when the current revision's release began; the progress
	// deadline counts from Progressed.
	Started    time.Time `json:"started,omitzero"`
	Progressed time.Time `json:"progressed,omitzero"`
	Updated    time.Time `json:"updated,omitzero"`
	// PauseUntil is when a timed pause ends; zero when not paused by time.
	PauseUntil time.Time `json:"pauseUntil,omitzero"`
	// Paused is true while a person's Pause request holds the release.
	Paused bool `json:"paused,omitempty"`
	// Previous is the revision that served before this release: Abort and
	// an Undo to it send traffic back to it while it still runs. Empty on
	// a first release.
	Previous string `json:"previous,omitempty"`
	// Switched is set once the app's traffic moved to the new revision.
	Switched bool `json:"switched,omitempty"`
	// Committed is set once the previous revision's pods are being
	// removed: from then on the release can no longer be aborted.
	Committed bool `json:"committed,omitempty"`
	// Aborted is when traffic went back after an abort; the aborted
	// revision is scaled down once the abort delay has passed.
	Aborted time.Time `json:"aborted,omitzero"`
	// Requests are control requests not yet handled, oldest first.
	Requests []Request `json:"requests,omitempty"`
	// Seq is the sequence number of the last request accepted.
	Seq int64 `json:"seq"`
	// Lease says which driver may write the release.
	Lease Lease `json:"lease"`
	// History holds the most recent revisions, newest last.
	History []Revision `json:"history,omitempty"`
	// Measurements are the latest analysis measurements of the release,
	// oldest first, at most MeasurementLimit.
	Measurements []Measurement `json:"measurements,omitempty"`
	// Timeline is what the current release did, oldest first: its steps,
	// phases, traffic splits, measurements and the requests it took,
	// within TimelineLimit entries and TimelineBytes (see AppendTimeline).
	Timeline []Entry `json:"timeline,omitempty"`
	// State is the strategy's own state, opaque to the shared code.
	State json.RawMessage `json:"state,omitempty"`

	// uid is the record ConfigMap's UID, which owner marks name.
	uid types.UID
}

// UID is the UID of the ConfigMap the record was read from or written to,
// which owner marks name (AnnotationOwner); empty for a record not yet
// written.
func (r *Record) UID() types.UID { return r.uid }

// SetUID sets the UID of the record's ConfigMap, for the code that writes it.
func (r *Record) SetUID(uid types.UID) { r.uid = uid }

// Lease is the right of one driver to run a release. It lapses Duration
// after Renewed unless renewed.
type Lease struct {
	Holder   string          `json:"holder,omitempty"`
	Acquired time.Time       `json:"acquired,omitzero"`
	Renewed  time.Time       `json:"renewed,omitzero"`
	Duration metav1.Duration `json:"duration"`
}

// Revision is one entry of the release history.
type Revision struct {
	Revision string    `json:"revision"`
	Phase    Phase     `json:"phase"`
	Message  string    `json:"message,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Workload is the revision's workload without status, for Undo.
	Workload *appsv1.Deployment `json:"workload,omitempty"`
	// Objects names the revision's companion objects (kind/name).
	Objects []string `json:"objects,omitempty"`
}

// Reason is why a release was aborted or failed.
type Reason string

// Reasons a release ends other than Succeeded. Each maps to a sentinel error
// of package strategy.
const (
	ReasonRequested        Reason = "Requested"        // ErrAborted
	ReasonProgressDeadline Reason = "ProgressDeadline" // ErrProgressDeadline
	ReasonAnalysisFailed   Reason = "AnalysisFailed"   // ErrAnalysisFailed
	ReasonSuperseded       Reason = "Superseded"       // ErrSuperseded
)

// Known reports whether r is one of the reasons, or empty.
func (r Reason) Known() bool {
	switch r {
	case "", ReasonRequested, ReasonProgressDeadline, ReasonAnalysisFailed, ReasonSuperseded:
		return true
	}
	return false
}

// Action is a kind of control request.
type Action string

// The control requests a release understands.
const (
	ActionPromote     Action = "Promote"
	ActionPromoteFull Action = "PromoteFull"
	ActionPause       Action = "Pause"
	ActionResume      Action = "Resume"
	ActionAbort       Action = "Abort"
	ActionRetry       Action = "Retry"
	ActionUndo        Action = "Undo"
	// ActionReplace asks the driver of a release in flight to stop so that
	// a newer revision (Request.Revision) can be released instead.
	ActionReplace Action = "Replace"
)

// Known reports whether a is one of the actions.
func (a Action) Known() bool {
	switch a {
	case ActionPromote, ActionPromoteFull, ActionPause, ActionResume, ActionAbort, ActionRetry, ActionUndo, ActionReplace:
		return true
	}
	return false
}

// Request is a control request written to the record by any process.
type Request struct {
	Seq    int64  `json:"seq"`
	Action Action `json:"action"`
	// Revision is the revision to go back to, for Undo.
	Revision string `json:"revision,omitempty"`
	// Step is the step the requester saw, for Promote; a Promote for a step
	// the release has already left is dropped.
	Step int       `json:"step"`
	By   string    `json:"by,omitempty"`
	At   time.Time `json:"at,omitzero"`
}

// Find returns the history entry of revision.
func (r *Record) Find(revision string) (Revision, bool) {
	for i := len(r.History) - 1; i >= 0; i-- {
		if r.History[i].Revision == revision {
			return r.History[i], true
		}
	}
	return Revision{}, false
}

// Remember puts rev in the history, replacing an entry of the same
// revision, and keeps at most limit entries.
func (r *Record) Remember(rev Revision, limit int) {
	h := r.History[:0:0]
	for _, e := range r.History {
		if e.Revision != rev.Revision {
			h = append(h, e)
		}
	}
	h = append(h, rev)
	if limit > 0 && len(h) > limit {
		h = h[len(h)-limit:]
	}
	r.History = h
}

// PauseOrResume applies a taken Pause or Resume request to r: Pause holds
// the release; Resume lets it go on, Progressing, or still Paused when it
// waits for a decision (a Promote) that Resume does not give. Other
// requests change nothing.
func (r *Record) PauseOrResume(q Request, awaitingPromote bool) {
	switch q.Action {
	case ActionPause:
		r.Paused, r.Phase = true, PhasePaused
	case ActionResume:
		r.Paused, r.Phase = false, PhaseProgressing
		if awaitingPromote {
			r.Phase = PhasePaused
		}
	}
}

// Restart makes r describe a new release, h, at its first step, stepName,
// with state as the strategy's state (nil for none): progressing, not
// paused, no reason, message, measurements or timeline, and h in the
// history (at most limit entries). Pending requests are the caller's to
// take first.
func (r *Record) Restart(h Revision, stepName string, state any, limit int) error {
	raw, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("encoding the strategy's state: %w", err)
	}
	if state == nil {
		raw = nil
	}
	h.Phase = PhaseProgressing
	r.Revision, r.Phase, r.Reason, r.Message = h.Revision, PhaseProgressing, "", ""
	r.Step, r.StepName, r.Paused, r.PauseUntil = 0, stepName, false, time.Time{}
	r.Previous, r.Switched, r.Committed, r.Aborted = r.Stable, false, false, time.Time{}
	r.Started, r.Progressed, r.State, r.Measurements = h.Started, h.Started, raw, nil
	r.Timeline = nil
	r.Remember(h, limit)
	return nil
}

// DecodeState reads the strategy's state of r into v; an empty state
// leaves v as it is.
func (r *Record) DecodeState(v any) error {
	if len(r.State) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.State, v); err != nil {
		return fmt.Errorf("reading the %s state: %w", r.Strategy, err)
	}
	return nil
}

// EncodeState stores v as the strategy's state of r.
func (r *Record) EncodeState(v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the %s state: %w", r.Strategy, err)
	}
	r.State = raw
	return nil
}

// Clone returns a deep copy of r. Entries of the timeline and history
// are copied; the workloads of the history are deep copies.
func (r *Record) Clone() *Record {
	out := *r
	out.Requests = slices.Clone(r.Requests)
	out.Measurements = slices.Clone(r.Measurements)
	out.Timeline = slices.Clone(r.Timeline)
	out.State = slices.Clone(r.State)
	out.History = slices.Clone(r.History)
	for i, h := range out.History {
		out.History[i].Workload = h.Workload.DeepCopy()
		out.History[i].Objects = slices.Clone(h.Objects)
	}
	return &out
}

// InFlight reports whether a release is under way: started and not ended,
// or aborted with traffic back but its aborted revision not yet retired.
func (r *Record) InFlight() bool {
	return r.Phase != "" && !r.Phase.Terminal() || r.StepName == StepAborting
}

// Ended reports whether the release of revision has reached a terminal
// phase with no Retry or Undo request asking for more.
func (r *Record) Ended(revision string) bool {
	if r.Revision != revision || !r.Phase.Terminal() || r.InFlight() {
		return false
	}
	for _, q := range r.Requests {
		if q.Action == ActionRetry || q.Action == ActionUndo {
			return false
		}
	}
	return true
}

// Take removes and returns the pending requests for which keep returns true,
// in order.
func (r *Record) Take(match func(Request) bool) []Request {
	var taken, rest []Request
	for _, q := range r.Requests {
		if match(q) {
			taken = append(taken, q)
		} else {
			rest = append(rest, q)
		}
	}
	r.Requests = rest
	return taken
}

// Phase is where a release is in its life.
type Phase string

// The phases of a release. Succeeded, Aborted and Failed are terminal.
const (
	PhasePending     Phase = "Pending"
	PhaseProgressing Phase = "Progressing"
	PhasePaused      Phase = "Paused"
	PhasePromoting   Phase = "Promoting"
	PhaseSucceeded   Phase = "Succeeded"
	PhaseAborted     Phase = "Aborted"
	PhaseFailed      Phase = "Failed"
)

// Terminal reports whether no more work happens in phase p without a new
// request.
func (p Phase) Terminal() bool {
	switch p {
	case PhaseSucceeded, PhaseAborted, PhaseFailed:
		return true
	}
	return false
}

// Known reports whether p is one of the phases, or empty (a new record).
func (p Phase) Known() bool {
	switch p {
	case "", PhasePending, PhaseProgressing, PhasePaused, PhasePromoting:
		return true
	}
	return p.Terminal()
}

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
	// Limit is the condition the value is held to, when known: the
	// success condition ("result <= 0.05"), or, for a metric with only a
	// failure condition, "not " and that condition ("not result > 0.05").
	Limit string `json:"limit,omitempty"`
}

// MeasurementLimit is how many measurements a release record keeps.
const MeasurementLimit = 50

// StepAborting is the step of a release whose abort is under way: traffic
// goes back to the previous revision, then the aborted one is scaled down.
// A driver that resumes at this step finishes the abort.
const StepAborting = "abort-scale-down"

// MaxPendingRequests bounds the request queue so that a runaway client
// cannot grow the record without limit.
const MaxPendingRequests = 32

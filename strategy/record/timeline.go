package record

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"
)

// Entry is one moment of a release's timeline: a step that started, a
// phase it moved to, a traffic split, a measurement, a control request
// taken. Kind says which fields are set.
type Entry struct {
	// Time is when it happened, on the driver's clock.
	Time time.Time `json:"time"`
	Kind EntryKind `json:"kind"`
	// Step, StepName and StepKind name the step that started
	// (EntryStep) or failed (EntryStepFailed).
	Step     int    `json:"step,omitempty"`
	StepName string `json:"stepName,omitempty"`
	StepKind string `json:"stepKind,omitempty"`
	// Phase is the phase the release moved to (EntryPhase), and Reason
	// why it ended other than Succeeded.
	Phase  Phase  `json:"phase,omitempty"`
	Reason Reason `json:"reason,omitempty"`
	// Weight is the new revision's share of requests in percent, and
	// CanaryPods and StablePods the sizes of the new revision's slot and of
	// the stable one, all ready (EntryTraffic); Slot is the slot a Service
	// now selects (blue/green). A rollback has all of them zero.
	Weight     int32  `json:"weight,omitempty"`
	CanaryPods int32  `json:"canaryPods,omitempty"`
	StablePods int32  `json:"stablePods,omitempty"`
	Slot       string `json:"slot,omitempty"`
	// Analysis, Metric, Value, Verdict and Limit are those of a
	// measurement (EntryMeasurement, see Measurement); Verdict is also
	// "Failed" for a check that failed (EntryCheck).
	Analysis string `json:"analysis,omitempty"`
	Metric   string `json:"metric,omitempty"`
	Value    string `json:"value,omitempty"`
	Verdict  string `json:"verdict,omitempty"`
	Limit    string `json:"limit,omitempty"`
	// Action, Revision, By and Sent are those of a control request taken
	// (EntryRequest): what it asked, who sent it and when. By is also the
	// driver that continued a release (EntryResumed).
	Action   Action    `json:"action,omitempty"`
	Revision string    `json:"revision,omitempty"`
	By       string    `json:"by,omitempty"`
	Sent     time.Time `json:"sent,omitzero"`
	// Message says more, in one line.
	Message string `json:"msg,omitempty"`
}

// EntryKind is what a timeline entry records.
type EntryKind string

// The kinds of timeline entries.
const (
	EntryStep        EntryKind = "step"        // a step started
	EntryStepFailed  EntryKind = "stepFailed"  // a step failed
	EntryPhase       EntryKind = "phase"       // the phase changed: a pause, its end, promotion, the end
	EntryTraffic     EntryKind = "traffic"     // the traffic split changed
	EntryRoute       EntryKind = "route"       // a header or mirror route was set or removed
	EntryRollback    EntryKind = "rollback"    // all traffic went back to the previous revision
	EntryMeasurement EntryKind = "measurement" // an analysis measured a metric
	EntryCheck       EntryKind = "check"       // checks started, passed or failed
	EntryRequest     EntryKind = "request"     // a control request was taken
	EntryResumed     EntryKind = "resumed"     // a driver continued the release
)

// Known reports whether k is one of the kinds.
func (k EntryKind) Known() bool {
	switch k {
	case EntryStep, EntryStepFailed, EntryPhase, EntryTraffic, EntryRoute, EntryRollback,
		EntryMeasurement, EntryCheck, EntryRequest, EntryResumed:
		return true
	}
	return false
}

// Bounds of the timeline: at most TimelineLimit entries and TimelineBytes
// of JSON, so that the record stays far below a ConfigMap's 1 MiB. When a
// timeline grows past them, its oldest measurements go first, then its
// oldest entries of any kind.
const (
	TimelineLimit = 400
	TimelineBytes = 96 << 10
)

// maxText bounds each text of an entry.
const maxText = 256

// AppendTimeline adds entries to r's timeline, each text cut to a bounded
// length, keeps the timeline in order of time (entries of the same time
// in the order added) and within its bounds.
func (r *Record) AppendTimeline(entries ...Entry) {
	if len(entries) == 0 {
		return
	}
	for _, e := range entries {
		r.Timeline = append(r.Timeline, e.clipped())
	}
	slices.SortStableFunc(r.Timeline, func(a, b Entry) int { return a.Time.Compare(b.Time) })
	r.Timeline = BoundTimeline(r.Timeline)
}

// BoundTimeline returns t within TimelineLimit entries and TimelineBytes:
// the oldest measurements are dropped first, then the oldest entries. t
// itself is returned when it fits.
func BoundTimeline(t []Entry) []Entry {
	if len(t) <= TimelineLimit {
		total := 2
		for _, e := range t {
			total += e.sizeAtMost() + 1
		}
		if total <= TimelineBytes {
			return t
		}
	}
	sizes := make([]int, len(t))
	total := 2 // []
	for i, e := range t {
		b, _ := json.Marshal(e)
		sizes[i] = len(b) + 1
		total += sizes[i]
	}
	n := len(t)
	over := func() bool { return n > TimelineLimit || total > TimelineBytes }
	drop := make([]bool, len(t))
	for _, measurementsOnly := range []bool{true, false} {
		for i := 0; i < len(t) && over(); i++ {
			if drop[i] || measurementsOnly && t[i].Kind != EntryMeasurement {
				continue
			}
			drop[i], n, total = true, n-1, total-sizes[i]
		}
	}
	if n == len(t) {
		return t
	}
	out := make([]Entry, 0, n)
	for i, e := range t {
		if !drop[i] {
			out = append(out, e)
		}
	}
	return out
}

// sizeAtMost is an upper bound of the size of e as JSON, cheaper to get
// than the size itself.
func (e Entry) sizeAtMost() int {
	n := entryOverhead
	for _, s := range e.texts() {
		n += escapedAtMost(*s)
	}
	return n
}

// entryOverhead is the size of an entry's JSON without the contents of
// its texts: every key, and the longest numbers and times.
var entryOverhead = func() int {
	at := time.Date(2026, time.December, 31, 23, 59, 59, 123456789, time.FixedZone("", -(9*3600+30*60)))
	e := Entry{Time: at, Sent: at, Step: math.MinInt, Weight: math.MinInt32, CanaryPods: math.MinInt32, StablePods: math.MinInt32}
	for _, s := range e.texts() {
		*s = "x"
	}
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	return len(b) - len(e.texts())
}()

// texts returns the text fields of e.
func (e *Entry) texts() []*string {
	return []*string{(*string)(&e.Kind), &e.StepName, &e.StepKind, (*string)(&e.Phase), (*string)(&e.Reason), &e.Slot,
		&e.Analysis, &e.Metric, &e.Value, &e.Verdict, &e.Limit, (*string)(&e.Action), &e.Revision, &e.By, &e.Message}
}

// escapedAtMost bounds the length of s as a JSON string's contents: a
// byte that may be escaped counts six.
func escapedAtMost(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			n += 6
		} else {
			n++
		}
	}
	return n
}

func (e Entry) clipped() Entry {
	for _, s := range e.texts() {
		*s = clip(*s, maxText)
	}
	return e
}

// clip cuts s to at most n bytes on a rune boundary, ending it with "…"
// when cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// timelineProblems lists what makes r's timeline unusable, the first few
// bad entries at most.
func (r *Record) timelineProblems() []string {
	if len(r.Timeline) > 2*TimelineLimit {
		return []string{fmt.Sprintf("%d timeline entries", len(r.Timeline))}
	}
	var out []string
	for i, e := range r.Timeline {
		var why string
		switch {
		case !e.Kind.Known():
			why = fmt.Sprintf("unknown kind %q", e.Kind)
		case e.Kind == EntryPhase && (e.Phase == "" || !e.Phase.Known()):
			why = fmt.Sprintf("unknown phase %q", e.Phase)
		case !e.Reason.Known():
			why = fmt.Sprintf("unknown reason %q", e.Reason)
		case e.Kind == EntryRequest && !e.Action.Known():
			why = fmt.Sprintf("unknown request %q", e.Action)
		case e.Weight < 0 || e.Weight > 100:
			why = fmt.Sprintf("weight %d out of range", e.Weight)
		case e.CanaryPods < 0 || e.StablePods < 0:
			why = "negative pod count"
		case e.Step < 0 || e.Step > maxSteps:
			why = fmt.Sprintf("step %d out of range", e.Step)
		default:
			continue
		}
		out = append(out, fmt.Sprintf("timeline entry %d: %s", i, why))
		if len(out) == 3 {
			break
		}
	}
	return out
}

package timeline

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
)

// model is what a picture shows, read from a status.
type model struct {
	// start and end are the times shown; last is the end of the release,
	// or of what is known of it.
	start, end, last time.Time
	// weight is the new revision's share of traffic, a step at each point;
	// canary and stable are the slots' pods, known until podsEnd.
	weight, canary, stable []point
	podsEnd                time.Time
	panels                 []*panel
	markers                []marker
	spans                  []span
}

type point struct {
	t time.Time
	v float64
}

// panel is one metric's measurements.
type panel struct {
	name   string
	points []measured
	limits []limit
}

type measured struct {
	t       time.Time
	v       float64
	numeric bool
	verdict string
}

type limit struct {
	text string
	v    float64
}

// marker is a vertical line at t; class says what it marks.
type marker struct {
	t     time.Time
	class string
	label string
}

// The classes of markers, most important first: a group of markers at one
// place takes the colour of the first.
const (
	markAbort   = "abort"
	markRequest = "request"
	markPhase   = "phase"
	markStep    = "step"
	markOther   = "other"
)

var markOrder = []string{markAbort, markRequest, markPhase, markStep, markOther}

// span is a stretch of time: a pause.
type span struct {
	from, to time.Time
	class    string // "pause" (held by a person or a decision), "timed-pause"
}

func newModel(st *strategy.Status) *model {
	m := &model{}
	m.start, m.last = timeRange(st)
	m.end = m.last.Add(m.last.Sub(m.start) / 30) // room to see what happened last
	m.weight = []point{{m.start, 0}}
	m.podsEnd = m.end
	var pausedAt, timedAt time.Time
	panels := map[string]*panel{}
	prev := strategy.Phase("")
	for _, e := range st.Timeline {
		switch e.Kind {
		case strategy.EntryTraffic:
			m.traffic(e)
		case strategy.EntryRollback:
			m.setWeight(e.Time, 0)
			if m.podsEnd.Equal(m.end) {
				m.podsEnd = e.Time
			}
		case strategy.EntryMeasurement:
			m.measure(panels, e)
		case strategy.EntryStep:
			if !timedAt.IsZero() {
				m.spans = append(m.spans, span{timedAt, e.Time, "timed-pause"})
				timedAt = time.Time{}
			}
			if e.StepKind == "Pause" {
				timedAt = e.Time
			}
		case strategy.EntryPhase:
			if e.Phase == strategy.PhasePaused && pausedAt.IsZero() {
				pausedAt = e.Time
			} else if e.Phase != strategy.PhasePaused && !pausedAt.IsZero() {
				m.spans = append(m.spans, span{pausedAt, e.Time, "pause"})
				pausedAt = time.Time{}
			}
		}
		if mk, ok := markerOf(e, prev); ok {
			m.markers = append(m.markers, mk)
		}
		if e.Kind == strategy.EntryPhase {
			prev = e.Phase
		}
	}
	if !pausedAt.IsZero() {
		m.spans = append(m.spans, span{pausedAt, m.end, "pause"})
	}
	if !timedAt.IsZero() && !st.Phase.Terminal() {
		m.spans = append(m.spans, span{timedAt, m.end, "timed-pause"})
	}
	return m
}

// timeRange is the span of time a picture shows: from the release's start
// (or its first entry) to its last entry (or its last write, while it
// runs), a minute at least.
func timeRange(st *strategy.Status) (time.Time, time.Time) {
	var start, end time.Time
	for _, t := range []time.Time{st.Started, first(st.Timeline)} {
		if !t.IsZero() && (start.IsZero() || t.Before(start)) {
			start = t
		}
	}
	if n := len(st.Timeline); n > 0 {
		end = st.Timeline[n-1].Time
	}
	if !st.Phase.Terminal() && st.Updated.After(end) {
		end = st.Updated
	}
	if start.IsZero() {
		start = end
	}
	if end.Sub(start) < time.Minute {
		end = start.Add(time.Minute)
	}
	return start, end
}

func first(t []strategy.Entry) time.Time {
	if len(t) == 0 {
		return time.Time{}
	}
	return t[0].Time
}

func (m *model) traffic(e strategy.Entry) {
	m.setWeight(e.Time, float64(e.Weight))
	if !m.podsEnd.Equal(m.end) {
		return // after a rollback the pods are not known
	}
	m.canary = addStep(m.canary, e.Time, float64(e.CanaryPods))
	m.stable = addStep(m.stable, e.Time, float64(e.StablePods))
}

func (m *model) setWeight(t time.Time, v float64) { m.weight = addStep(m.weight, t, v) }

// addStep adds a point to a step line when its value changes.
func addStep(line []point, t time.Time, v float64) []point {
	if n := len(line); n > 0 && line[n-1].v == v {
		return line
	}
	return append(line, point{t, v})
}

func (m *model) measure(panels map[string]*panel, e strategy.Entry) {
	name := metricName(e)
	p, ok := panels[name]
	if !ok {
		p = &panel{name: name}
		panels[name] = p
		m.panels = append(m.panels, p)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(e.Value), 64)
	p.points = append(p.points, measured{t: e.Time, v: v, numeric: err == nil && finite(v), verdict: e.Verdict})
	if l, ok := parseLimit(e.Limit); ok && !hasLimit(p.limits, l) {
		p.limits = append(p.limits, l)
	}
}

func hasLimit(ls []limit, l limit) bool {
	for _, o := range ls {
		if o.v == l.v {
			return true
		}
	}
	return false
}

// numericLimit matches a limit that ends in a comparison with a number,
// as "result <= 0.05" or "not result > 0.1".
var numericLimit = regexp.MustCompile(`(?:<=|>=|<|>|==)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$`)

func parseLimit(s string) (limit, bool) {
	m := numericLimit.FindStringSubmatch(s)
	if m == nil {
		return limit{}, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil || !finite(v) {
		return limit{}, false
	}
	return limit{text: s, v: v}, true
}

func finite(v float64) bool { return v == v && v < 1e300 && v > -1e300 }

// markerOf is the marker of an entry, if it has one; prev is the phase
// before it.
func markerOf(e strategy.Entry, prev strategy.Phase) (marker, bool) {
	mk := marker{t: e.Time}
	switch e.Kind {
	case strategy.EntryStep:
		mk.class, mk.label = markStep, e.StepName
	case strategy.EntryStepFailed:
		mk.class, mk.label = markAbort, e.StepName+" failed"
	case strategy.EntryRollback:
		mk.class, mk.label = markAbort, "rollback"
	case strategy.EntryRequest:
		mk.class, mk.label = markRequest, describe(e)
	case strategy.EntryResumed:
		mk.class, mk.label = markOther, "continued by "+orDash(e.By)
	case strategy.EntryRoute:
		mk.class, mk.label = markOther, "route"
	case strategy.EntryCheck:
		if e.Verdict == "" {
			return mk, false
		}
		mk.class, mk.label = markAbort, "check "+strings.ToLower(e.Verdict)
	case strategy.EntryPhase:
		return phaseMarker(e, prev)
	default:
		return mk, false
	}
	return mk, true
}

func phaseMarker(e strategy.Entry, prev strategy.Phase) (marker, bool) {
	mk := marker{t: e.Time, class: markPhase}
	switch e.Phase {
	case strategy.PhasePaused:
		mk.label = "paused"
	case strategy.PhaseProgressing:
		if prev != strategy.PhasePaused {
			return mk, false
		}
		mk.label = "resumed"
	case strategy.PhasePromoting:
		mk.label = "promoting"
	case strategy.PhaseAborted, strategy.PhaseFailed:
		mk.class, mk.label = markAbort, join(string(e.Phase), reasonText(e.Reason), "")
	default:
		mk.label = string(e.Phase)
	}
	return mk, true
}

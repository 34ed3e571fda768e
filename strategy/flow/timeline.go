package flow

import (
	"slices"
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// The release's timeline (record.Record.Timeline) costs no write of its
// own: entries of events are kept by observe until the next write of the
// record, and the phase changes and requests taken are noted in the write
// that makes them (see save).

// note keeps the timeline entry of e, if it has one, for the next write.
// The caller holds emitMu.
func (d *Driver) note(e strategy.Event) {
	en, ok := d.entryOf(e)
	if !ok {
		return
	}
	d.noted = append(d.noted, en)
	if len(d.noted) > record.TimelineLimit {
		d.noted = record.BoundTimeline(d.noted)
	}
}

// takeNoted returns the entries kept for the record and forgets them;
// putBack keeps them again after a write that failed.
func (d *Driver) takeNoted() []record.Entry {
	d.emitMu.Lock()
	defer d.emitMu.Unlock()
	noted := d.noted
	d.noted = nil
	return noted
}

func (d *Driver) putBack(noted []record.Entry) {
	if len(noted) == 0 {
		return
	}
	d.emitMu.Lock()
	defer d.emitMu.Unlock()
	d.noted = append(noted, d.noted...)
	if len(d.noted) > record.TimelineLimit {
		d.noted = record.BoundTimeline(d.noted)
	}
}

// entryOf is the timeline entry of an event, for the events a person
// looking back at a release wants to see.
func (d *Driver) entryOf(e strategy.Event) (record.Entry, bool) {
	en := record.Entry{Time: e.Time}
	switch e.Type {
	case strategy.EventStepStarted, strategy.EventStepFailed:
		en.Kind, en.Step, en.StepName = record.EntryStep, e.Step, e.StepName
		if e.StepKind != e.StepName {
			en.StepKind = e.StepKind
		}
		if e.Type == strategy.EventStepFailed {
			en.Kind, en.Message = record.EntryStepFailed, errText(e)
		}
	case strategy.EventTraffic:
		switch {
		case e.Traffic != nil:
			t := e.Traffic
			en.Kind, en.Weight, en.CanaryPods, en.StablePods, en.Slot = record.EntryTraffic, t.Weight, t.CanaryPods, t.StablePods, t.Slot
		case e.StepName == record.StepAborting || e.Phase == strategy.PhaseAborted || e.Phase == strategy.PhaseFailed:
			en.Kind, en.Message = record.EntryRollback, e.Message
		default:
			en.Kind, en.Message = record.EntryRoute, e.Message
		}
	case strategy.EventMeasurement:
		m := e.Measurement
		if m == nil {
			return en, false
		}
		en.Kind, en.Analysis, en.Metric, en.Value, en.Verdict, en.Limit = record.EntryMeasurement, m.Analysis, m.Metric, m.Value, m.Phase, m.Limit
		if !m.Time.IsZero() {
			en.Time = m.Time
		}
		if m.Phase != "Successful" && m.Phase != "Running" {
			en.Message = m.Message
		}
	case strategy.EventCheck:
		en.Kind, en.Message = record.EntryCheck, errText(e)
		if e.Err != nil {
			en.Verdict = "Failed"
		}
	case strategy.EventResumed, strategy.EventTakenOver:
		en.Kind, en.By, en.Message = record.EntryResumed, d.cfg.Identity, e.Message
	default:
		return en, false
	}
	return en, true
}

// errText is an event's message and error in one line.
func errText(e strategy.Event) string {
	switch {
	case e.Err == nil:
		return e.Message
	case e.Message == "":
		return e.Err.Error()
	}
	return e.Message + ": " + e.Err.Error()
}

// before is what a record write starts from, to note what the write
// changes in the timeline.
type before struct {
	phase    strategy.Phase
	requests []strategy.Request
}

func beforeWrite(r *record.Record) before {
	return before{phase: r.Phase, requests: slices.Clone(r.Requests)}
}

// noteChanges adds to r's timeline, at now, the requests the write took
// and the phase it moved to.
func (b before) noteChanges(r *record.Record, now time.Time) {
	var out []record.Entry
	for _, q := range b.requests {
		if slices.ContainsFunc(r.Requests, func(p strategy.Request) bool { return p.Seq == q.Seq }) {
			continue
		}
		out = append(out, record.Entry{Time: now, Kind: record.EntryRequest, Action: q.Action,
			Revision: q.Revision, By: q.By, Sent: q.At})
	}
	if r.Phase != b.phase && r.Phase != "" {
		out = append(out, record.Entry{Time: now, Kind: record.EntryPhase, Phase: r.Phase, Reason: r.Reason, Message: r.Message})
	}
	r.AppendTimeline(out...)
}

package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchyard-dev/switchyard/strategy"
)

// deliver posts one notification, trying again after transient failures.
func (n *Notifier) deliver(ctx context.Context, m message, dropped uint64) {
	fail := func(err error) {
		n.count(&n.stats.Failed)
		n.report(fmt.Errorf("notification %d (%s) given up: %w", m.seq, m.event.Type, err))
	}
	if n.err != nil {
		fail(n.err)
		return
	}
	body, err := n.body(m, dropped)
	if err != nil {
		fail(fmt.Errorf("encoding: %w", err))
		return
	}
	b := n.cfg.newBackOff(n.cfg.clock)
	nop := func() {}
	for attempt := 1; ; attempt++ {
		rep := n.ep.send(ctx, n.cfg.clock, n.cfg.clock.Now(), body)
		if ctx.Err() != nil {
			fail(ctx.Err())
			return
		}
		if rep.err == nil && rep.status >= 200 && rep.status <= 299 {
			n.count(&n.stats.Sent)
			return
		}
		err := rep.err
		if err == nil {
			err = n.ep.responseError(rep)
		}
		if !rep.transient || attempt >= n.cfg.attempts {
			fail(fmt.Errorf("after %d attempts: %w", attempt, err))
			return
		}
		n.report(fmt.Errorf("notification %d (%s), attempt %d of %d: %w", m.seq, m.event.Type, attempt, n.cfg.attempts, err))
		if pause(ctx, n.cfg.clock, b.NextBackOff(), nop, nop) != nil {
			fail(ctx.Err())
			return
		}
	}
}

func (n *Notifier) count(c *uint64) {
	n.mu.Lock()
	*c++
	n.mu.Unlock()
}

func (n *Notifier) report(err error) {
	if n.cfg.onError != nil {
		n.cfg.onError(err)
	}
}

// body is the JSON a notification posts, secrets masked.
func (n *Notifier) body(m message, dropped uint64) ([]byte, error) {
	e := m.event
	if n.cfg.slack {
		return json.Marshal(SlackMessage{Text: n.summary(e, dropped)})
	}
	doc := Notification{
		Seq: m.seq, Dropped: dropped, Time: e.Time, Type: e.Type, Strategy: e.Strategy,
		App: e.App.Name, Namespace: e.App.Namespace, Revision: e.Revision, Phase: e.Phase,
		Step: e.Step, StepName: e.StepName, StepKind: e.StepKind, Object: e.Object,
		Message: n.ep.redact(e.Message), Metadata: n.cfg.metadata,
	}
	if e.Err != nil {
		doc.Error = n.ep.redact(e.Err.Error())
	}
	if t := e.Traffic; t != nil {
		doc.Traffic = &Traffic{Weight: t.Weight, CanaryPods: t.CanaryPods, StablePods: t.StablePods, Service: t.Service, Slot: t.Slot}
	}
	if ms := e.Measurement; ms != nil {
		c := *ms
		c.Value, c.Message = n.ep.redact(c.Value), n.ep.redact(c.Message)
		doc.Measurement = &c
	}
	return json.Marshal(doc)
}

// summary is an event as one line of a Slack message: strategy, app,
// revision, type, step, phase, traffic, message and error, secrets masked
// and &, < and > escaped as Slack asks.
func (n *Notifier) summary(e strategy.Event, dropped uint64) string {
	var b strings.Builder
	if e.Strategy != "" {
		fmt.Fprintf(&b, "[%s] ", e.Strategy)
	}
	b.WriteString(e.App.String())
	if e.Revision != "" {
		b.WriteString(" " + e.Revision)
	}
	b.WriteString(": " + string(e.Type))
	if e.StepName != "" {
		fmt.Fprintf(&b, ", step %d (%s)", e.Step, e.StepName)
	}
	if e.Object != "" {
		b.WriteString(", " + e.Object)
	}
	if e.Phase != "" {
		b.WriteString(", phase " + string(e.Phase))
	}
	if t := e.Traffic; t != nil {
		fmt.Fprintf(&b, ", traffic %d%%", t.Weight)
	}
	if e.Message != "" {
		b.WriteString(": " + n.ep.redact(e.Message))
	}
	if e.Err != nil {
		b.WriteString(": " + n.ep.redact(e.Err.Error()))
	}
	if dropped > 0 {
		fmt.Fprintf(&b, " (%d earlier events dropped)", dropped)
	}
	text := strings.Join(strings.Fields(b.String()), " ")
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(text)
}

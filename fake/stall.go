package fake

import (
	"fmt"
	"log"
	"runtime"
	"sort"
	"strings"
	"time"

	"k8s.io/utils/clock"
)

// DefaultStallTimeout is how long, in real time, an auto-advancing clock
// with participants may see nothing happen before it reports a stall
// (WithStallTimeout). Nothing that follows the protocol of Track or Join
// is silent that long under a test: an hour-long release on the fake
// takes milliseconds.
const DefaultStallTimeout = 10 * time.Second

// StallError reports that an auto-advancing clock with participants saw
// nothing happen for a while and could not move: every participant idle
// with no timer pending, a participant that stays busy without doing
// anything the cluster sees, or work that never ends (such as a watch
// nobody reads). See Clock.Stall.
type StallError struct {
	// For is how long, in real time, nothing happened.
	For time.Duration
	// Now is the clock's time.
	Now time.Time
	// Reason says why the clock could not move.
	Reason string
	// Participants lists the registered participants, "name: busy" or
	// "name: idle".
	Participants []string
	// Timers lists the pending timers, earliest first: due time, kind
	// and the code that made it.
	Timers []string
	// Work lists the pending work that holds the clock back: API calls
	// in flight, watch events not yet received or handled, controller
	// work, running AfterFunc callbacks.
	Work []string
}

func (e *StallError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fake: auto-advance stalled: nothing happened for %s at %s: %s", e.For, e.Now.Format(time.RFC3339Nano), e.Reason)
	section := func(title string, lines []string) {
		fmt.Fprintf(&b, "\n%s (%d):", title, len(lines))
		for _, l := range lines {
			b.WriteString("\n\t" + l)
		}
	}
	section("participants", e.Participants)
	section("timers", e.Timers)
	if len(e.Work) > 0 {
		section("pending work", e.Work)
	}
	return b.String()
}

// stallState is the clock's stall configuration and first report.
type stallState struct {
	timeout time.Duration
	logf    func(format string, args ...any)
	ch      chan struct{} // closed at the first stall
	err     *StallError
}

func newStallState() stallState {
	return stallState{timeout: DefaultStallTimeout, logf: log.Printf, ch: make(chan struct{})}
}

// setStall configures stall detection: d <= 0 turns it off; a nil logf
// logs nothing.
func (a *advancer) setStall(d time.Duration, logf func(string, ...any)) {
	a.stallMu.Lock()
	a.stalls.timeout, a.stalls.logf = d, logf
	a.stallMu.Unlock()
	a.bump()
}

// Stalled returns a channel that is closed when the clock first reports
// a stall; Stall returns the report. A test waiting for a release can
// select on it to fail at once with the report instead of at its deadline.
func (c *Clock) Stalled() <-chan struct{} {
	c.adv.stallMu.Lock()
	defer c.adv.stallMu.Unlock()
	return c.adv.stalls.ch
}

// Stall returns the first stall the clock reported, a *StallError, or
// nil. Stall detection runs only in auto-advance mode with at least one
// participant: when for the stall timeout (WithStallTimeout, default
// DefaultStallTimeout) of real time nothing happens (no API call, watch
// event, controller work, timer change or participant transition) and
// the clock cannot move. Each stall is also logged (WithStallLog). A
// report stays after the clock moves on.
func (c *Clock) Stall() error {
	c.adv.stallMu.Lock()
	defer c.adv.stallMu.Unlock()
	if c.adv.stalls.err == nil {
		return nil
	}
	return c.adv.stalls.err
}

// stallWatch is the loop's stall timer: armed while the loop waits, it
// checks on firing that no activity happened since it was armed.
type stallWatch struct {
	a        *advancer
	t        clock.Timer
	armedAt  uint64
	reported bool
	lastAt   uint64 // activity of the last report
}

func newStallWatch(a *advancer) *stallWatch { return &stallWatch{a: a} }

func (w *stallWatch) stop() {
	if w.t != nil {
		w.t.Stop()
		w.t = nil
	}
}

// arm returns the channel of a timer started at activity count at (or an
// earlier one still running); nil when detection is off or a stall was
// just reported at this count.
func (w *stallWatch) arm(at uint64) <-chan time.Time {
	a := w.a
	a.stallMu.Lock()
	d := a.stalls.timeout
	a.stallMu.Unlock()
	a.mu.Lock()
	parts := len(a.parts)
	a.mu.Unlock()
	if d <= 0 || parts == 0 || (w.reported && w.lastAt == at) {
		w.stop()
		return nil
	}
	if w.t == nil {
		w.t = a.real.NewTimer(d)
		w.armedAt = at
	}
	return w.t.C()
}

// check runs when the timer fires: a stall when nothing happened since it
// was armed and the clock still cannot move.
func (w *stallWatch) check() {
	w.t = nil
	ok, at := w.a.settled()
	if ok || at != w.armedAt {
		return
	}
	a := w.a
	a.stallMu.Lock()
	d := a.stalls.timeout
	a.stallMu.Unlock()
	err := a.stallReport(d)
	if a.activity.Load() != at {
		return // something happened while the report was made
	}
	w.reported, w.lastAt = true, at
	a.stallMu.Lock()
	logf := a.stalls.logf
	a.stallMu.Unlock()
	if logf != nil {
		logf("%v", err)
	}
	a.stallMu.Lock()
	if a.stalls.err == nil {
		a.stalls.err = err
		close(a.stalls.ch)
	}
	a.stallMu.Unlock()
}

// stallReport describes what holds the clock.
func (a *advancer) stallReport(d time.Duration) *StallError {
	e := &StallError{For: d, Now: a.clock.Now()}
	a.mu.Lock()
	parts := make([]*participant, 0, len(a.parts))
	for p := range a.parts {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].id < parts[j].id })
	var busy []string
	for _, p := range parts {
		state := "idle"
		if p.busy {
			state = "busy"
			busy = append(busy, p.label())
		}
		e.Participants = append(e.Participants, p.label()+": "+state)
	}
	gates := a.gates
	a.mu.Unlock()
	if n := a.clock.running.Load(); n > 0 {
		e.Work = append(e.Work, fmt.Sprintf("%d AfterFunc callbacks running", n))
	}
	for _, g := range gates {
		if g.pending() && g.describe != nil {
			e.Work = append(e.Work, g.describe()...)
		}
	}
	e.Timers = a.clock.describeTimers()
	switch {
	case len(busy) > 0:
		e.Reason = "busy participants never went idle: " + strings.Join(busy, ", ")
	case len(e.Work) > 0:
		e.Reason = "pending work never ended"
	case len(e.Timers) == 0:
		e.Reason = "every participant is idle and no timer is pending, so nothing can wake them"
	default:
		e.Reason = "the clock cannot move"
	}
	return e
}

func (p *participant) label() string {
	if p.name == "" {
		return fmt.Sprintf("participant %d", p.id)
	}
	return fmt.Sprintf("%q", p.name)
}

// describeTimers lists the pending timers, earliest first.
func (c *Clock) describeTimers() []string {
	type timer struct {
		target time.Time
		seq    uint64
		kind   string
		pcs    []uintptr
	}
	c.mu.Lock()
	ts := make([]timer, len(c.waiters))
	for i, w := range c.waiters {
		kind := "timer"
		switch {
		case w.fn != nil:
			kind = "AfterFunc"
		case w.period > 0:
			kind = "ticker every " + w.period.String()
		}
		ts[i] = timer{target: w.target, seq: w.seq, kind: kind, pcs: append([]uintptr(nil), w.pcs[:w.npc]...)}
	}
	now := c.now
	c.mu.Unlock()
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].target.Equal(ts[j].target) {
			return ts[i].seq < ts[j].seq
		}
		return ts[i].target.Before(ts[j].target)
	})
	const limit = 20
	var out []string
	for i, t := range ts {
		if i == limit {
			out = append(out, fmt.Sprintf("… and %d more", len(ts)-limit))
			break
		}
		line := fmt.Sprintf("%s (in %s): %s", t.target.Format(time.RFC3339Nano), t.target.Sub(now), t.kind)
		if from := creator(t.pcs); from != "" {
			line += " made by " + from
		}
		out = append(out, line)
	}
	return out
}

// creator names the first caller of a timer outside the clock itself.
func creator(pcs []uintptr) string {
	if len(pcs) == 0 {
		return ""
	}
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		fn := f.Function
		if !strings.Contains(fn, "/fake.(*Clock)") && !strings.Contains(fn, "/fake.(*waiter)") && fn != "" {
			return fmt.Sprintf("%s (%s:%d)", shortFunc(fn), shortFile(f.File), f.Line)
		}
		if !more {
			return ""
		}
	}
}

func shortFunc(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

func shortFile(file string) string {
	parts := strings.Split(file, "/")
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	return strings.Join(parts, "/")
}

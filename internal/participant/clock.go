package participant

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Goroutine is a clock for code that runs in a goroutine of its own, such
// as a check: the goroutine counts as a participant of an auto-advancing
// clock that is busy while it runs, and idle from the moment it asks the
// clock for a timer to wait on (After, NewTimer, Tick, NewTicker, Sleep)
// until it fires (its callback marks the goroutine busy before it
// delivers). AfterFunc does not make it idle: a callback may be a timeout
// of work still running; the callback counts as the clock's own work while
// it runs. A wait on anything else (a channel, a watch, the callback of an
// AfterFunc) goes through Idle. With a clock that does not move
// itself, Goroutine only passes calls through.
type Goroutine struct {
	clock.WithTickerAndDelayedExecution
	idle, busy, done func()
}

// Go registers a goroutine that starts busy with clk; Done ends its
// participation.
func Go(clk clock.WithTickerAndDelayedExecution) *Goroutine {
	idle, busy, done := Track(clk)
	return &Goroutine{WithTickerAndDelayedExecution: clk, idle: idle, busy: busy, done: done}
}

// Done ends the goroutine's participation.
func (g *Goroutine) Done() { g.done() }

// Idle marks the goroutine idle for a wait that is not on the clock, and
// returns what marks it busy again; whatever ends the wait should call it
// before it does (an AfterFunc callback that closes a channel), and the
// goroutine calls it once it wakes.
func (g *Goroutine) Idle() (busy func()) {
	g.idle()
	return g.busy
}

// Track registers another participant with the underlying clock, so that
// code given this clock can track goroutines of its own.
func (g *Goroutine) Track() (idle, busy, done func()) { return Track(g.WithTickerAndDelayedExecution) }

// After waits d.
func (g *Goroutine) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	g.WithTickerAndDelayedExecution.AfterFunc(d, func() { g.busy(); ch <- g.Now() })
	g.idle()
	return ch
}

// Sleep waits d.
func (g *Goroutine) Sleep(d time.Duration) { <-g.After(d) }

// NewTimer returns a timer that fires after d.
func (g *Goroutine) NewTimer(d time.Duration) clock.Timer {
	t := &timer{g: g, ch: make(chan time.Time, 1)}
	t.arm(d)
	g.idle()
	return t
}

// Tick returns the channel of a ticker of period d.
func (g *Goroutine) Tick(d time.Duration) <-chan time.Time { return g.NewTicker(d).C() }

// NewTicker returns a ticker of period d.
func (g *Goroutine) NewTicker(d time.Duration) clock.Ticker {
	t := &ticker{timer: timer{g: g, ch: make(chan time.Time, 1)}, period: d}
	t.arm(d)
	g.idle()
	return t
}

type timer struct {
	g  *Goroutine
	ch chan time.Time

	mu      sync.Mutex
	t       clock.Timer
	stopped bool
	on      func() // called after each delivery (a ticker re-arms)
}

func (t *timer) arm(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.t = t.g.WithTickerAndDelayedExecution.AfterFunc(d, t.fire)
	}
}

func (t *timer) fire() {
	t.g.busy()
	select {
	case t.ch <- t.g.Now():
	default: // a tick the reader has not taken yet: drop it, as time.Ticker does
	}
	if t.on != nil {
		t.on()
	}
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	return t.t.Stop()
}

func (t *timer) Reset(d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	active := t.t.Stop()
	t.stopped = false
	t.t = t.g.WithTickerAndDelayedExecution.AfterFunc(d, t.fire)
	t.g.idle()
	return active
}

type ticker struct {
	timer
	period time.Duration
}

func (t *ticker) arm(d time.Duration) {
	t.on = func() { t.timer.arm(t.period) }
	t.timer.arm(d)
}

func (t *ticker) Stop() { t.timer.Stop() }

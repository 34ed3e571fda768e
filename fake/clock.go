package fake

import (
	"container/heap"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
)

// DefaultStartTime returns the time a Cluster's clock shows when it is
// created without WithStartTime: 2026-01-01T00:00:00Z.
func DefaultStartTime() time.Time { return time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC) }

// Clock is a fake clock.WithTicker. Time moves only when Step or SetTime is
// called, or, in auto-advance mode, when every tracked participant is idle
// (see Track and the package documentation). Timer channels are buffered
// (capacity 1) and AfterFunc callbacks run in their own goroutine, so both
// are safe to use under the race detector.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	waiters waiterHeap
	seq     uint64

	// running counts AfterFunc callbacks that have been started and not
	// returned yet.
	running atomic.Int64

	// moved are called, without mu held, each time the clock is set: after
	// the new time is visible and before the timers due then fire.
	moved []func(from, to time.Time)

	adv *advancer
}

var (
	_ clock.WithTicker           = (*Clock)(nil)
	_ clock.WithDelayedExecution = (*Clock)(nil)
)

// NewClock returns a stand-alone fake clock showing t. A Cluster makes its
// own; use Cluster.Clock for that one.
func NewClock(t time.Time) *Clock {
	c := &Clock{now: t}
	c.adv = newAdvancer(c)
	return c
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Since returns the fake time elapsed since t.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// After returns a channel that receives the fake time once d has passed.
func (c *Clock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).C() }

// NewTimer returns a timer that fires once d of fake time has passed.
func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	w := &waiter{clock: c, ch: make(chan time.Time, 1)}
	c.add(w, d)
	return w
}

// AfterFunc calls f in its own goroutine once d of fake time has passed.
// A running callback counts as pending work for auto-advance and WaitIdle.
// The timer fires when f starts: Stop reports true, and f does not run,
// until then, even once the clock has passed d.
func (c *Clock) AfterFunc(d time.Duration, f func()) clock.Timer {
	w := &waiter{clock: c, fn: f}
	c.add(w, d)
	return w
}

// Tick is like time.Tick on fake time. It returns nil if d <= 0.
func (c *Clock) Tick(d time.Duration) <-chan time.Time {
	if d <= 0 {
		return nil
	}
	return c.NewTicker(d).C()
}

// NewTicker returns a ticker that fires every d of fake time. Like
// time.Ticker it drops ticks the reader is too slow to take.
func (c *Clock) NewTicker(d time.Duration) clock.Ticker {
	if d <= 0 {
		panic("fake: non-positive interval for NewTicker")
	}
	w := &waiter{clock: c, ch: make(chan time.Time, 1), period: d}
	c.add(w, d)
	return &ticker{w}
}

// Sleep blocks until d of fake time has passed. A tracked participant must
// call its idle function before sleeping, or auto-advance never moves time.
func (c *Clock) Sleep(d time.Duration) { <-c.After(d) }

// Step moves the clock forward by d and fires every timer that is then due,
// in order of their due time.
func (c *Clock) Step(d time.Duration) {
	c.mu.Lock()
	t := c.now.Add(d)
	c.mu.Unlock()
	c.SetTime(t)
}

// SetTime sets the clock to t and fires every timer due at or before t. A t
// before the current time moves the clock back without firing anything.
func (c *Clock) SetTime(t time.Time) {
	c.mu.Lock()
	var due []*waiter
	for c.waiters.Len() > 0 && !c.waiters[0].target.After(t) {
		w := heap.Pop(&c.waiters).(*waiter)
		due = append(due, w)
		if w.period > 0 {
			// Reschedule tickers past t, dropping missed ticks.
			next := w.target.Add(w.period)
			for !next.After(t) {
				next = next.Add(w.period)
			}
			w.target = next
			c.seq++
			w.seq = c.seq
			heap.Push(&c.waiters, w)
		}
	}
	from := c.now
	c.now = t
	hooks := c.moved
	c.mu.Unlock()
	for _, h := range hooks {
		h(from, t)
	}
	for _, w := range due {
		w.fire(t)
	}
	c.adv.bumpNotify()
}

// onMove registers h to be called each time the clock is set, with the
// previous and the new time, before the timers due at the new time fire.
// h runs in the goroutine that moved the clock, without the clock's lock.
func (c *Clock) onMove(h func(from, to time.Time)) {
	c.mu.Lock()
	c.moved = append(c.moved[:len(c.moved):len(c.moved)], h)
	c.mu.Unlock()
}

// HasWaiters reports whether any timer, ticker or AfterFunc is pending.
func (c *Clock) HasWaiters() bool { return c.Waiters() > 0 }

// Waiters returns the number of pending timers, tickers and AfterFuncs.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiters.Len()
}

// nextDue returns the due time of the earliest pending waiter.
func (c *Clock) nextDue() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waiters.Len() == 0 {
		return time.Time{}, false
	}
	return c.waiters[0].target, true
}

// advanceToNext moves the clock to the earliest pending due time, firing the
// waiters due then. It reports whether there was one.
func (c *Clock) advanceToNext() bool {
	t, ok := c.nextDue()
	if !ok {
		return false
	}
	c.mu.Lock()
	if t.Before(c.now) {
		t = c.now
	}
	c.mu.Unlock()
	c.SetTime(t)
	return true
}

func (c *Clock) add(w *waiter, d time.Duration) {
	if w.npc == 0 {
		// Who made the timer, for stall reports: skip runtime.Callers,
		// add and the exported method.
		w.npc = runtime.Callers(3, w.pcs[:])
	}
	c.mu.Lock()
	w.target = c.now.Add(d)
	c.seq++
	w.seq = c.seq
	w.index = -1
	if d <= 0 && w.period == 0 {
		// Due already: fire at once, like the real time package.
		now := c.now
		c.mu.Unlock()
		w.fire(now)
		c.adv.bump()
		return
	}
	heap.Push(&c.waiters, w)
	c.mu.Unlock()
	c.adv.bumpNotify()
}

// remove takes w off the heap; it reports whether w was pending.
// An AfterFunc whose callback has not started yet is still pending: its
// callback is cancelled, as if Stop had come first.
func (c *Clock) remove(w *waiter) bool {
	c.mu.Lock()
	if f := w.firing; f != nil {
		w.firing = nil
		f.cancelled = true
		c.mu.Unlock()
		c.running.Add(-1)
		c.adv.bumpNotify()
		return true
	}
	defer c.mu.Unlock()
	if w.index < 0 {
		return false
	}
	heap.Remove(&c.waiters, w.index)
	return true
}

// firing is an AfterFunc callback on its way to run; guarded by the
// clock's mu.
type firing struct{ cancelled bool }

// waiter is a pending timer, ticker or AfterFunc.
type waiter struct {
	clock  *Clock
	target time.Time
	seq    uint64
	index  int
	period time.Duration
	ch     chan time.Time
	fn     func()
	firing *firing    // the callback's goroutine, until it starts
	pcs    [6]uintptr // callers that made it
	npc    int
}

// fire delivers t. An AfterFunc's callback runs in a goroutine of its
// own; the timer fires when the callback starts, so a Stop before that
// still stops it (see remove).
func (w *waiter) fire(t time.Time) {
	if w.fn != nil {
		c := w.clock
		f := &firing{}
		c.mu.Lock()
		w.firing = f
		c.mu.Unlock()
		c.running.Add(1)
		c.adv.bump()
		go func() {
			c.mu.Lock()
			run := !f.cancelled
			if run && w.firing == f {
				w.firing = nil
			}
			c.mu.Unlock()
			if !run {
				return // stopped before it started; remove ended it
			}
			defer func() {
				c.running.Add(-1)
				c.adv.bumpNotify()
			}()
			w.fn()
		}()
		return
	}
	select {
	case w.ch <- t:
	default:
	}
}

// C returns the timer's channel; nil for an AfterFunc timer.
func (w *waiter) C() <-chan time.Time { return w.ch }

// Stop stops the timer; it reports whether the timer was pending.
func (w *waiter) Stop() bool { return w.clock.remove(w) }

// Reset re-arms the timer to fire d from now; it reports whether it was
// pending.
func (w *waiter) Reset(d time.Duration) bool {
	was := w.clock.remove(w)
	w.clock.add(w, d)
	return was
}

type ticker struct{ w *waiter }

func (t *ticker) C() <-chan time.Time { return t.w.ch }
func (t *ticker) Stop()               { t.w.clock.remove(t.w) }

// waiterHeap orders waiters by due time, then creation order.
type waiterHeap []*waiter

func (h waiterHeap) Len() int { return len(h) }
func (h waiterHeap) Less(i, j int) bool {
	if h[i].target.Equal(h[j].target) {
		return h[i].seq < h[j].seq
	}
	return h[i].target.Before(h[j].target)
}
func (h waiterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *waiterHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waiterHeap) Pop() any {
	old := *h
	n := len(old)
	w := old[n-1]
	old[n-1] = nil
	w.index = -1
	*h = old[:n-1]
	return w
}

package fake

import (
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
)

// DefaultQuietWindow is how long, in real time, an auto-advancing clock
// that may move waits for anything else to happen first. It is a courtesy
// to goroutines outside the protocol of Clock.Join (code woken by a timer
// channel that nothing accounts for): drivers, checks, background
// analysis, retries and watch consumers follow the protocol.
// WithQuietWindow(0) turns it off.
const DefaultQuietWindow = time.Duration(0)

// advancer moves a Clock to its next timer when every participant is idle
// and no work is pending anywhere.
//
// Every change that can make the clock ready or unready is followed by a
// bump, which counts activity and wakes the loop. The loop reads the
// activity counter, checks readiness, and reads the counter again: when the
// two reads agree, no change happened in between, so the state it checked
// was real at one instant (see ready). A change after the check starts new
// work only if something pending caused it, and nothing was pending.
type advancer struct {
	clock *Clock
	real  clock.Clock // real time: the quiet window and stall detection

	activity atomic.Uint64
	kick     chan struct{}

	subMu sync.Mutex
	subs  []chan struct{}
	nsubs atomic.Int32

	mu      sync.Mutex
	auto    bool
	quiet   time.Duration
	parts   map[*participant]struct{}
	nextID  int
	busy    int
	gates   []gate
	stop    chan struct{} // closed to end the loop; nil when not running
	done    chan struct{}
	stalls  stallState
	stallMu sync.Mutex // guards stalls' report, channel and error
}

// gate is pending work outside the clock, such as the controllers' queue.
type gate struct {
	pending  func() bool
	describe func() []string // what is pending, for stall reports
}

func newAdvancer(c *Clock) *advancer {
	return &advancer{
		clock:  c,
		real:   clock.RealClock{},
		kick:   make(chan struct{}, 1),
		quiet:  DefaultQuietWindow,
		parts:  map[*participant]struct{}{},
		stalls: newStallState(),
	}
}

// bump records activity and wakes the loop. Call it after the change it
// reports, never before.
func (a *advancer) bump() {
	a.activity.Add(1)
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// bumpNotify is bump plus waking WaitIdle callers; used where work may
// have ended or timers changed, not on every API call.
func (a *advancer) bumpNotify() {
	a.bump()
	a.notifySubs()
}

// addGate registers pending work outside the clock.
func (a *advancer) addGate(g gate) {
	a.mu.Lock()
	a.gates = append(a.gates, g)
	a.mu.Unlock()
	a.bump()
}

func (a *advancer) setQuiet(d time.Duration) {
	a.mu.Lock()
	a.quiet = d
	a.mu.Unlock()
}

// SetAutoAdvance turns auto-advance mode on or off. While it is on, a
// goroutine watches the participants (Track, Join) and the pending work;
// turning it off ends that goroutine.
func (c *Clock) SetAutoAdvance(on bool) {
	a := c.adv
	a.mu.Lock()
	a.auto = on
	var stop, done chan struct{}
	switch {
	case on && a.stop == nil:
		a.stop = make(chan struct{})
		a.done = make(chan struct{})
		go a.loop(a.stop, a.done)
	case !on && a.stop != nil:
		stop, done = a.stop, a.done
		a.stop, a.done = nil, nil
	}
	a.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	a.bump()
}

// AutoAdvance reports whether the clock is in auto-advance mode.
func (c *Clock) AutoAdvance() bool {
	c.adv.mu.Lock()
	defer c.adv.mu.Unlock()
	return c.adv.auto
}

// Track registers an unnamed participant in auto-advance; see TrackNamed.
func (c *Clock) Track() (idle, busy, done func()) { return c.TrackNamed("") }

// TrackNamed registers a participant in auto-advance, typically a strategy
// Run; stall reports show its name ("participant N" when empty). The
// participant starts busy. It calls idle right before it blocks waiting
// for a watch event, a timer or its context, busy right after it wakes,
// and done when it finishes; extra calls to idle or busy are harmless, and
// nothing happens after done. Time moves on its own only while at least
// one participant is registered and all of them are idle.
//
// Whatever wakes the participant should call busy before it does (an
// AfterFunc callback, a watch cache hook), or the clock may move again
// while the participant is about to run. Join gives a protocol without
// the remaining race, between a wake and the participant's idle.
func (c *Clock) TrackNamed(name string) (idle, busy, done func()) {
	p := c.adv.join(name)
	return p.idle, p.markBusy, p.finish
}

// Join registers a participant in auto-advance, like TrackNamed, with a
// protocol free of races between what wakes it and its going idle:
//
//   - busy marks it busy and records that it has seen every wake so far;
//     it calls busy before it looks at what it waits for (a cache, the
//     time), and looks again after each wake.
//   - wake marks it busy on behalf of what is about to wake it: an
//     AfterFunc callback or a watch cache hook calls wake, then closes the
//     channel the participant waits on.
//   - idle marks it idle and reports true, unless wake was called since
//     its last busy: then it stays busy and reports false, and the
//     participant must look again instead of blocking.
//   - done unregisters it.
//
// A participant that registers its wakes before it calls busy, and
// blocks only after idle reported true, never lets the clock move past
// something it would have seen. A timer whose Stop reports false has a
// callback that may still run: wait for it before waiting again, or its
// late wake leaves the participant busy while it blocks, and the clock
// stalls.
func (c *Clock) Join(name string) (idle func() bool, busy, wake, done func()) {
	p := c.adv.join(name)
	return p.idleUnlessWoken, p.markBusy, p.wake, p.finish
}

func (a *advancer) join(name string) *participant {
	a.mu.Lock()
	a.nextID++
	p := &participant{a: a, id: a.nextID, name: name, busy: true}
	a.parts[p] = struct{}{}
	a.busy++
	a.mu.Unlock()
	a.bump()
	return p
}

// participant is one party to auto-advance.
type participant struct {
	a    *advancer
	id   int
	name string

	mu       sync.Mutex // held while a.mu is taken: p.mu before a.mu
	busy     bool
	finished bool
	wakes    uint64 // calls of wake
	seen     uint64 // wakes at the last markBusy
}

// setLocked moves p to busy or idle; p.mu is held.
func (p *participant) setLocked(busy bool) {
	if p.busy == busy {
		return
	}
	a := p.a
	a.mu.Lock()
	p.busy = busy
	if busy {
		a.busy++
	} else {
		a.busy--
	}
	a.mu.Unlock()
	a.bump()
}

func (p *participant) markBusy() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.seen = p.wakes
	p.setLocked(true)
}

func (p *participant) wake() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.wakes++
	p.setLocked(true)
}

func (p *participant) idle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.finished {
		p.setLocked(false)
	}
}

func (p *participant) idleUnlessWoken() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return true
	}
	if p.wakes != p.seen {
		return false
	}
	p.setLocked(false)
	return true
}

func (p *participant) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.finished = true
	a := p.a
	a.mu.Lock()
	delete(a.parts, p)
	if p.busy {
		a.busy--
	}
	a.mu.Unlock()
	a.bump()
}

// ready reports whether the clock may move on its own now. Its reads are
// not atomic together; loop makes them so with the activity counter.
func (a *advancer) ready() bool {
	if !a.idle() {
		return false
	}
	return a.clock.HasWaiters()
}

// idle reports whether auto-advance is on, a participant is registered,
// every participant is idle and no work is pending: nothing but the clock
// can make anything happen.
func (a *advancer) idle() bool {
	a.mu.Lock()
	ok := a.auto && len(a.parts) > 0 && a.busy == 0
	gates := a.gates
	a.mu.Unlock()
	if !ok || a.clock.running.Load() > 0 {
		return false
	}
	for _, g := range gates {
		if g.pending() {
			return false
		}
	}
	return true
}

// settled reports whether the clock may move, from a consistent view: no
// bump happened while ready was checked. It returns the activity count the
// view is valid at.
func (a *advancer) settled() (bool, uint64) {
	before := a.activity.Load()
	ok := a.ready()
	return ok && a.activity.Load() == before, before
}

func (a *advancer) loop(stop, done chan struct{}) {
	defer close(done)
	st := newStallWatch(a)
	defer st.stop()
	for {
		ok, at := a.settled()
		if ok {
			if !a.yield(at, stop) {
				return
			}
			if a.activity.Load() == at {
				a.clock.advanceToNext()
			}
			continue
		}
		select {
		case <-a.kick:
		case <-st.arm(at):
			st.check()
		case <-stop:
			return
		}
	}
}

// yield waits out the quiet window, returning early when anything
// happens; it reports false when the loop must stop.
func (a *advancer) yield(at uint64, stop chan struct{}) bool {
	a.mu.Lock()
	quiet := a.quiet
	a.mu.Unlock()
	if quiet <= 0 {
		return true
	}
	t := a.real.NewTimer(quiet)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			return true
		case <-stop:
			return false
		case <-a.kick:
			if a.activity.Load() != at {
				return true
			}
		}
	}
}

// subscribe returns a channel closed at the next bumpNotify.
func (a *advancer) subscribe() <-chan struct{} {
	ch := make(chan struct{})
	a.subMu.Lock()
	a.subs = append(a.subs, ch)
	a.nsubs.Store(int32(len(a.subs)))
	a.subMu.Unlock()
	return ch
}

func (a *advancer) notifySubs() {
	if a.nsubs.Load() == 0 {
		return
	}
	a.subMu.Lock()
	for _, ch := range a.subs {
		close(ch)
	}
	a.subs = nil
	a.nsubs.Store(0)
	a.subMu.Unlock()
}

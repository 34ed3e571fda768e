package fake

import (
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"
)

// DefaultQuietWindow is how long, in real time, nothing may happen before an
// auto-advancing clock moves to its next timer.
const DefaultQuietWindow = time.Millisecond

// advancer moves a Clock to its next timer when every participant is idle
// and nothing else is going on.
type advancer struct {
	clock *Clock
	real  clock.Clock // real time, used only for the quiet window

	activity atomic.Uint64
	kick     chan struct{}

	subMu sync.Mutex
	subs  []chan struct{}
	nsubs atomic.Int32

	mu           sync.Mutex
	auto         bool
	quiet        time.Duration
	participants int
	busy         int
	gates        []func() bool // each reports whether it has pending work
	stop         chan struct{} // closed to end the loop; nil when not running
	done         chan struct{}
}

func newAdvancer(c *Clock) *advancer {
	return &advancer{
		clock: c,
		real:  clock.RealClock{},
		kick:  make(chan struct{}, 1),
		quiet: DefaultQuietWindow,
	}
}

// bump records activity and wakes the loop.
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

// addGate registers a function reporting pending work outside the clock.
func (a *advancer) addGate(g func() bool) {
	a.mu.Lock()
	a.gates = append(a.gates, g)
	a.mu.Unlock()
}

func (a *advancer) setQuiet(d time.Duration) {
	a.mu.Lock()
	a.quiet = d
	a.mu.Unlock()
}

// SetAutoAdvance turns auto-advance mode on or off. While it is on, a
// goroutine watches the participants registered with Track; turning it off
// ends that goroutine.
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

// Track registers a participant in auto-advance: typically a strategy Run.
// The participant starts busy. It calls idle right before it blocks waiting
// for a watch event, a timer or its context, busy right after it wakes, and
// done when it finishes; extra calls to idle or busy are harmless, and
// nothing happens after done. Time moves on its own only while at least one
// participant is registered and all of them are idle.
func (c *Clock) Track() (idle, busy, done func()) {
	a := c.adv
	a.mu.Lock()
	a.participants++
	a.busy++
	a.mu.Unlock()
	a.bump()

	var mu sync.Mutex
	isBusy, finished := true, false
	set := func(toBusy, finish bool) {
		mu.Lock()
		defer mu.Unlock()
		if finished {
			return
		}
		a.mu.Lock()
		switch {
		case finish:
			finished = true
			a.participants--
			if isBusy {
				a.busy--
			}
		case toBusy && !isBusy:
			a.busy++
			isBusy = true
		case !toBusy && isBusy:
			a.busy--
			isBusy = false
		}
		a.mu.Unlock()
		a.bump()
	}
	idle = func() { set(false, false) }
	busy = func() { set(true, false) }
	done = func() { set(false, true) }
	return idle, busy, done
}

// ready reports whether the clock may move on its own now.
func (a *advancer) ready() bool {
	a.mu.Lock()
	ok := a.auto && a.participants > 0 && a.busy == 0
	gates := a.gates
	a.mu.Unlock()
	if !ok || a.clock.running.Load() > 0 {
		return false
	}
	for _, g := range gates {
		if g() {
			return false
		}
	}
	return a.clock.HasWaiters()
}

func (a *advancer) loop(stop, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-a.kick:
		case <-stop:
			return
		}
		for a.ready() {
			before := a.activity.Load()
			a.mu.Lock()
			quiet := a.quiet
			a.mu.Unlock()
			t := a.real.NewTimer(quiet)
			select {
			case <-t.C():
			case <-stop:
				t.Stop()
				return
			}
			if a.activity.Load() != before || !a.ready() {
				continue
			}
			a.clock.advanceToNext()
		}
	}
}

// subscribe returns a channel closed at the next bump.
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

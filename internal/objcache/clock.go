package objcache

import (
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/internal/participant"
)

// holder is the clock a cache's reflector runs on. With an auto-advancing
// fake clock the reflector takes part only while it has work the clock
// must wait for: from Start, or from the end of a watch, until its watch
// is open (then the fake counts each event as pending work until it is
// handled; see tracked), and never while it backs off, since only the
// clock ends that wait. A cache that merely watches is no participant, so
// it does not make the clock move when nothing else takes part.
type holder struct {
	clock.WithTickerAndDelayedExecution

	mu     sync.Mutex
	done   func() // ends the hold; nil while none is held
	closed bool   // the reflector has ended: no hold any more
}

func (h *holder) acquire() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done == nil && !h.closed {
		_, _, h.done = participant.Track(h.WithTickerAndDelayedExecution)
	}
}

func (h *holder) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done != nil {
		h.done()
		h.done = nil
	}
}

// close lets the hold go for good, when the reflector has ended.
func (h *holder) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.release()
}

// After lets the hold go until d has passed; the timer takes it again
// before it delivers.
func (h *holder) After(d time.Duration) <-chan time.Time { return h.NewTimer(d).C() }

// NewTimer is After as a Timer.
func (h *holder) NewTimer(d time.Duration) clock.Timer {
	t := &holdTimer{h: h, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Sleep waits d.
func (h *holder) Sleep(d time.Duration) { <-h.After(d) }

type holdTimer struct {
	h  *holder
	ch chan time.Time

	mu sync.Mutex
	t  clock.Timer
}

func (t *holdTimer) C() <-chan time.Time { return t.ch }

func (t *holdTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t != nil && t.t.Stop()
}

func (t *holdTimer) Reset(d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	active := t.t != nil && t.t.Stop()
	t.t = t.h.WithTickerAndDelayedExecution.AfterFunc(d, func() {
		t.h.acquire()
		select {
		case t.ch <- t.h.Now():
		default:
		}
	})
	t.h.release()
	return active
}

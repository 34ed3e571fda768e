package flow

import (
	"context"
	"sync"
)

// turns lets one record write run at a time, between the driver and its
// lease keeper. A write that has to wait marks its goroutine idle for an
// auto-advancing clock, and the write before it, when it ends, marks the
// waiter busy before it hands over the turn: so the clock cannot move
// between the end of one write and the start of the next.
type turns struct {
	mu      sync.Mutex
	held    bool
	waiting []*turn
}

// turn is one write waiting for its turn.
type turn struct {
	ch chan struct{} // closed when the turn is handed over

	mu      sync.Mutex
	granted bool
	resume  func() // marks the waiter busy; nil until it went idle
}

// acquire waits for the turn. idle, when set, marks the caller idle and
// returns what marks it busy again; the caller only goes idle when the
// turn is taken.
func (s *turns) acquire(ctx context.Context, idle func() (busy func())) error {
	s.mu.Lock()
	if !s.held {
		s.held = true
		s.mu.Unlock()
		return nil
	}
	t := &turn{ch: make(chan struct{})}
	s.waiting = append(s.waiting, t)
	s.mu.Unlock()
	t.mu.Lock()
	if !t.granted && idle != nil {
		t.resume = idle()
	}
	t.mu.Unlock()
	select {
	case <-t.ch:
		return nil // release marked the caller busy
	case <-ctx.Done():
	}
	s.mu.Lock()
	queued := false
	for i, w := range s.waiting {
		if w == t {
			s.waiting = append(s.waiting[:i:i], s.waiting[i+1:]...)
			queued = true
			break
		}
	}
	s.mu.Unlock()
	if !queued {
		<-t.ch // handed over meanwhile: pass it on
		s.release()
	}
	t.mu.Lock()
	if r := t.resume; r != nil {
		r()
	}
	t.mu.Unlock()
	return ctx.Err()
}

// release ends the caller's turn, handing it to the first waiter.
func (s *turns) release() {
	s.mu.Lock()
	if len(s.waiting) == 0 {
		s.held = false
		s.mu.Unlock()
		return
	}
	t := s.waiting[0]
	s.waiting = s.waiting[1:]
	s.mu.Unlock()
	t.mu.Lock()
	t.granted = true
	if t.resume != nil {
		t.resume()
	}
	t.mu.Unlock()
	close(t.ch)
}

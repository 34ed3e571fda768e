package flow

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/switchyard-dev/switchyard/internal/store"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// Source is anything that says when it changed, such as a watch cache.
type Source interface {
	// Changed returns a channel closed at the next change.
	Changed() <-chan struct{}
}

// Wake says why Wait returned.
type Wake int

// Reasons Wait returns.
const (
	// WokeCondition: the condition holds.
	WokeCondition Wake = iota + 1
	// WokeDeadline: the Until time came first.
	WokeDeadline
	// WokeRequest: a control request the caller listens for is pending.
	WokeRequest
)

func (w Wake) String() string {
	switch w {
	case WokeCondition:
		return "condition"
	case WokeDeadline:
		return "deadline"
	case WokeRequest:
		return "request"
	}
	return fmt.Sprintf("Wake(%d)", int(w))
}

// WaitFor says what Wait waits for.
type WaitFor struct {
	// Cond is checked at the start and after every change of a source or
	// the record; nil means wait only for requests and time.
	Cond func() (bool, error)
	// Sources are watched for changes that may make Cond true.
	Sources []Source
	// Until is when Wait gives up and returns WokeDeadline; zero waits
	// without a deadline.
	Until time.Time
	// Recheck, when set, returns a time at which Cond may turn true with no
	// change of any source (say, a pod's minReadySeconds passing); the wait
	// checks Cond again then. It is called after each false Cond.
	Recheck func() time.Time
	// Requests selects the pending control requests that end the wait; nil
	// means none.
	Requests func(strategy.Request) bool
	// Reason is reported to the observer when Wait has to block.
	Reason string
}

// Wait blocks until w.Cond holds, a selected control request is pending or
// w.Until arrives, whichever is first, reacting to watch events and the
// clock rather than polling. The lease is renewed meanwhile on its own
// schedule; Wait returns ErrLeaseLost if another driver took the release.
func (d *Driver) Wait(ctx context.Context, w WaitFor) (Wake, error) {
	sources := append([]Source{d.records}, w.Sources...)
	if d.keeper != nil {
		sources = append(sources, d.keeper)
	}
	// The sources mark the driver busy, counting a wake, before they wake
	// it, for the whole wait; each round looks at them after busy.
	for _, s := range sources {
		if h, ok := s.(changeHook); ok {
			defer h.OnChange(d.wake)()
		}
	}
	announced := false
	for {
		d.busy()
		changed := []<-chan struct{}{d.records.Changed()}
		for _, s := range sources[1:] {
			changed = append(changed, s.Changed())
		}
		if err := d.refresh(); err != nil {
			return 0, err
		}
		if err := d.keeper.lostErr(); err != nil {
			return 0, err
		}
		if err := watchFailed(sources); err != nil {
			return 0, err
		}
		if w.Requests != nil {
			for _, q := range d.Record().Requests {
				if w.Requests(q) {
					return WokeRequest, nil
				}
			}
		}
		if w.Cond != nil {
			ok, err := w.Cond()
			if err != nil {
				return 0, err
			}
			if ok {
				return WokeCondition, nil
			}
		}
		now := d.Now()
		if !w.Until.IsZero() && !now.Before(w.Until) {
			return WokeDeadline, nil
		}
		next := w.Until
		if w.Recheck != nil {
			if at := w.Recheck(); !at.IsZero() && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
		if !announced && w.Reason != "" {
			d.Emit(ctx, strategy.Event{Type: strategy.EventWaiting, Message: w.Reason})
			announced = true
		}
		var timeout time.Duration = -1
		if !next.IsZero() {
			timeout = next.Sub(now)
		}
		if err := d.block(ctx, changed, timeout); err != nil {
			return 0, err
		}
	}
}

// block waits until one of changed is closed, timeout passes or ctx ends.
// With an auto-advancing fake clock, the sources (hooked by Wait) and the
// timer mark the driver busy before they wake it, and the driver does not
// block at all when something woke it since it last looked.
func (d *Driver) block(ctx context.Context, changed []<-chan struct{}, timeout time.Duration) error {
	fired := make(chan struct{})
	if timeout >= 0 {
		t := d.cfg.Clock.AfterFunc(timeout, func() { d.wake(); close(fired) })
		defer func() {
			if !t.Stop() {
				<-fired // its wake must not land in a later wait
			}
		}()
	}
	if !d.idle() {
		return nil
	}
	cases := make([]reflect.SelectCase, 0, len(changed)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(fired)})
	for _, c := range changed {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
	}
	chosen, _, _ := reflect.Select(cases)
	d.busy()
	if chosen == 0 {
		return ctx.Err()
	}
	return nil
}

// watchFailed returns the error of a source whose watch failed for good
// (a 403 for a missing "watch" permission, a 404 for a resource the server
// does not serve): waiting on it would wait for ever.
func watchFailed(sources []Source) error {
	for _, s := range sources {
		f, ok := s.(interface{ Err() error })
		if !ok {
			continue
		}
		if err := f.Err(); err != nil && !strategy.Transient(err) {
			return &strategy.WatchError{Err: err}
		}
	}
	return nil
}

// changeHook is implemented by sources that can call a function before they
// wake their waiters (objcache.Cache).
type changeHook interface {
	OnChange(f func()) (cancel func())
}

// refresh takes the record from the watch cache when it is newer than the
// one the driver holds, so that control requests written by other processes
// are seen without a read.
func (d *Driver) refresh() error {
	cm, ok := d.records.Get(d.app.Namespace, strategy.RecordName(d.app.Name))
	if _, rv := d.held(); !ok || !store.NewerVersion(cm.ResourceVersion, rv) {
		return nil
	}
	rec, err := record.Decode(d.app, cm)
	if err != nil {
		return err
	}
	if rec.Lease.Holder != d.cfg.Identity {
		err := fmt.Errorf("release %s now held by %q: %w", d.app, rec.Lease.Holder, strategy.ErrLeaseLost)
		d.keeper.lost(err)
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if store.NewerVersion(cm.ResourceVersion, d.rv) {
		// Only the requests are other processes' to write (see adopt).
		adopt(rec, d.rec)
		d.rec, d.rv = rec, cm.ResourceVersion
	}
	return nil
}

// Hold is a wait of a release that control requests can interrupt and a
// person's Pause stops the clock of: a strategy's waits for pods, endpoints
// and timed pauses.
type Hold struct {
	// Reason is reported to the observer when the wait blocks.
	Reason string
	// Cond reports whether the wait is over, and when to check again if
	// the answer may change with time alone (zero: only on changes). Nil:
	// only time and requests end the wait.
	Cond func() (bool, time.Time)
	// Until ends the wait with HeldUntil; Deadline with HeldPastDeadline.
	// Zero: none. Neither runs while the release is paused by a person.
	Until, Deadline time.Time
	// Sources are watched for changes that may make Cond true.
	Sources []Source
	// Takes selects the pending requests that end the wait.
	Takes func(strategy.Request) bool
}

// Held says how a Hold ended.
type Held int

// How a Hold ends.
const (
	HeldMet          Held = iota + 1 // Cond holds
	HeldUntil                        // Until came
	HeldPastDeadline                 // Deadline came first
	HeldForRequest                   // a request Takes selects is pending
)

// Hold waits as h says: while a person's Pause holds the release (the
// record's Paused), only requests end it.
func (d *Driver) Hold(ctx context.Context, h Hold) (Held, error) {
	for {
		w := WaitFor{Sources: h.Sources, Reason: h.Reason, Requests: h.Takes}
		if !d.Record().Paused {
			w.Until = earliest(h.Until, h.Deadline)
			if h.Cond != nil {
				var recheck time.Time
				w.Cond = func() (bool, error) {
					ok, at := h.Cond()
					recheck = at
					return ok, nil
				}
				w.Recheck = func() time.Time { return recheck }
			}
		}
		wake, err := d.Wait(ctx, w)
		if err != nil {
			return 0, err
		}
		now := d.Now()
		switch wake {
		case WokeCondition:
			return HeldMet, nil
		case WokeRequest:
			return HeldForRequest, nil
		case WokeDeadline:
			switch {
			case !h.Deadline.IsZero() && !now.Before(h.Deadline):
				return HeldPastDeadline, nil
			case !h.Until.IsZero() && !now.Before(h.Until):
				return HeldUntil, nil
			}
		}
	}
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

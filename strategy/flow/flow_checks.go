package flow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/internal/participant"
	"github.com/switchyard-dev/switchyard/strategy"
)

// signal is a Source that changes once, when fire is called. Hooks
// registered with OnChange run before waiters wake, so that an
// auto-advancing fake clock counts the waiter busy first.
type signal struct {
	mu    sync.Mutex
	ch    chan struct{}
	fired bool
	hooks map[int]func()
	next  int
}

func newSignal() *signal { return &signal{ch: make(chan struct{}), hooks: map[int]func(){}} }

func (s *signal) Changed() <-chan struct{} { return s.ch }

// OnChange implements changeHook.
func (s *signal) OnChange(f func()) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next
	s.next++
	s.hooks[id] = f
	return func() {
		s.mu.Lock()
		delete(s.hooks, id)
		s.mu.Unlock()
	}
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired {
		return
	}
	s.fired = true
	for _, h := range s.hooks {
		h()
	}
	close(s.ch)
}

func (s *signal) isFired() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired
}

// checkRun is checks running in their own goroutine.
type checkRun struct {
	done *signal
	err  error
	wg   sync.WaitGroup
}

// Check runs checks in order in their own goroutine while the release
// keeps hearing control requests: an Abort, an Undo or a newer revision
// cancels the checks' context and ends the release. A check that fails
// aborts the release (ErrAnalysisFailed); one that cannot decide
// (ErrInconclusive) pauses it until a person promotes or aborts it. Check
// returns nil when the checks passed or a person promoted past them.
func (f *Flow) Check(ctx context.Context, name string, checks []strategy.Check, in strategy.CheckInput) error {
	if len(checks) == 0 {
		return nil
	}
	in.Clock = f.d.cfg.Clock
	if in.Emit == nil {
		rec := f.d.Record()
		in.Emit = f.d.Emitter(rec.Step, rec.StepName)
	}
	cctx, cancel := context.WithCancel(ctx)
	r := &checkRun{done: newSignal()}
	f.running[r] = cancel
	r.wg.Add(1)
	g := participant.Go(f.d.cfg.Clock)
	in.Clock, in.Idle = g, g.Idle
	go func() {
		defer r.wg.Done()
		defer g.Done() // after the fire, which marks the driver busy first
		defer r.done.fire()
		r.err = runChecks(cctx, checks, in)
	}()
	defer func() {
		cancel()
		r.wg.Wait()
		delete(f.running, r)
	}()
	_, err := f.Await(ctx, Await{Reason: fmt.Sprintf("running %s (%d checks)", name, len(checks)),
		Cond: func() (bool, time.Time) { return r.done.isFired(), time.Time{} }, Sources: []Source{r.done}})
	if err != nil {
		return err
	}
	r.wg.Wait()
	if r.err == nil {
		return nil
	}
	return f.Judge(ctx, r.err)
}

// Judge acts on a failed check: one that could not decide pauses the
// release for a decision, any other aborts it.
func (f *Flow) Judge(ctx context.Context, err error) error {
	if errors.Is(err, strategy.ErrInconclusive) {
		_, err := f.Decide(ctx, err.Error())
		return err
	}
	return f.Abort(ctx, strategy.ReasonAnalysisFailed, err.Error())
}

// runChecks runs checks in order and returns the first failure as a
// *CheckError, reporting each outcome through in.Emit.
func runChecks(ctx context.Context, checks []strategy.Check, in strategy.CheckInput) error {
	for _, c := range checks {
		err := c.Func(ctx, in)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := c.Name + " passed"
		if err != nil {
			err = &strategy.CheckError{Check: c.Name, Err: err}
			msg = c.Name + " failed"
		}
		if in.Emit != nil {
			in.Emit(strategy.Event{Type: strategy.EventCheck, Message: msg, Err: err})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// background runs the background checks of a release.
type background struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error // the first failure
	failed *signal
}

func (b *background) hasFailed() bool {
	if b == nil {
		return false
	}
	return b.failed.isFired()
}

// StartBackground starts checks that run until the release is promoted or
// ends; the first that fails aborts the release at once, wherever it
// waits (one that cannot decide pauses it once for a decision, and the
// steps then go on without it). Starting again while they run, or once
// they have been judged, does nothing.
func (f *Flow) StartBackground(ctx context.Context, name string, checks []strategy.Check, in strategy.CheckInput) {
	if f.bg != nil || f.bgJudged || len(checks) == 0 {
		return
	}
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b := &background{cancel: cancel, failed: newSignal()}
	f.bg = b
	in.Clock = f.d.cfg.Clock
	rec := f.d.Record()
	in.Emit = f.d.Emitter(rec.Step, rec.StepName+" ("+name+")")
	f.d.Emit(ctx, strategy.Event{Type: strategy.EventCheck, Message: fmt.Sprintf("%s started: %d checks", name, len(checks))})
	for _, c := range checks {
		b.wg.Add(1)
		g := participant.Go(f.d.cfg.Clock)
		in := in
		in.Clock, in.Idle = g, g.Idle
		go func() {
			defer b.wg.Done()
			defer g.Done()
			err := c.Func(bctx, in)
			if err == nil || bctx.Err() != nil {
				return
			}
			b.mu.Lock()
			if b.err == nil {
				b.err = &strategy.CheckError{Check: c.Name, Err: err}
			}
			b.mu.Unlock()
			b.failed.fire()
		}()
	}
}

// StopBackground judges a background failure that came in, then stops
// the background checks and waits for them.
func (f *Flow) StopBackground(ctx context.Context) error {
	if err := f.judgeBackground(ctx); err != nil {
		return err
	}
	f.stopBackground()
	return nil
}

func (f *Flow) stopBackground() {
	if f.bg == nil {
		return
	}
	f.bg.cancel()
	f.bg.wg.Wait()
	f.bg = nil
}

// judgeBackground acts on a background failure: the checks stop, and the
// release aborts, or pauses once for a decision and goes on without them.
func (f *Flow) judgeBackground(ctx context.Context) error {
	b := f.bg
	if !b.hasFailed() {
		return nil
	}
	b.mu.Lock()
	err := b.err
	b.mu.Unlock()
	f.stopBackground()
	f.bgJudged = true // judged once: the steps go on without it
	f.d.Emit(ctx, strategy.Event{Type: strategy.EventCheck, Message: "background analysis failed", Err: err})
	return f.Judge(ctx, err)
}

// stopAll cancels the checks in flight and the background checks, and
// waits for them.
func (f *Flow) stopAll() {
	for r, cancel := range f.running {
		cancel()
		r.wg.Wait()
	}
	f.stopBackground()
}

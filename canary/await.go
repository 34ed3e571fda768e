package canary

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
)

// outcome says how await ended when the release goes on.
type outcome int

const (
	met           outcome = iota + 1 // the condition holds
	elapsed                          // the time to wait for has come
	promoted                         // a Promote request arrived
	fullyPromoted                    // a PromoteFull request arrived
)

// awaitSpec is one wait of a release.
type awaitSpec struct {
	reason string
	// cond reports whether the wait is over, and when to check again if the
	// answer may change with time alone (zero: only on changes).
	cond func() (bool, time.Time)
	// until ends the wait with elapsed; deadline aborts the release for
	// missing its progress deadline. Zero: none.
	until, deadline time.Time
	// promotable lets Promote end the wait.
	promotable bool
}

// await waits as a spec says, handling control requests and background
// analysis on the way. It returns a Result when the release ended.
func (rn *run) await(ctx context.Context, a awaitSpec) (outcome, *strategy.Result, error) {
	promoting := rn.d.Record().Step >= rn.stepPromote()
	for {
		if res, err := rn.judgeBackground(ctx); res != nil || err != nil {
			return 0, res, err
		}
		sources := rn.sl.Sources()
		if rn.bg != nil {
			sources = append(sources, rn.bg)
		}
		cond := func() (bool, time.Time) {
			if rn.bg.ended() {
				return true, time.Time{}
			}
			if a.cond == nil {
				return false, time.Time{}
			}
			return a.cond()
		}
		held, err := rn.d.Hold(ctx, strategy.Hold{Reason: a.reason, Cond: cond, Until: a.until, Deadline: a.deadline,
			Sources: sources, Takes: func(q strategy.Request) bool { return rn.takes(q, a, promoting) }})
		if err != nil {
			return 0, nil, err
		}
		switch held {
		case strategy.HeldMet:
			if rn.bg.ended() {
				continue // judged at the top of the loop
			}
			return met, nil, nil
		case strategy.HeldUntil:
			return elapsed, nil, nil
		case strategy.HeldPastDeadline:
			res, err := rn.abort(ctx, strategy.ReasonProgressDeadline,
				fmt.Sprintf("%s: not done within the progress deadline of %s", a.reason, rn.s.spec.progressDeadline()))
			return 0, res, err
		case strategy.HeldForRequest:
			out, res, err := rn.handleRequests(ctx, a, promoting)
			if res != nil || err != nil || out != 0 {
				return out, res, err
			}
		}
	}
}

// takes says whether a wait handles request q now. Retry and Undo of the
// release's own revision stay for the next Run; Promote waits for a step
// that can be promoted, PromoteFull for any step before promotion.
func (rn *run) takes(q strategy.Request, a awaitSpec, promoting bool) bool {
	switch q.Action {
	case strategy.ActionRetry:
		return false
	case strategy.ActionReplace, strategy.ActionUndo:
		return !promoting && q.Revision != rn.rel.Revision
	case strategy.ActionPromote:
		return a.promotable
	case strategy.ActionPromoteFull:
		return !promoting
	}
	return true
}

// handleRequests takes the pending requests and acts on them.
func (rn *run) handleRequests(ctx context.Context, a awaitSpec, promoting bool) (outcome, *strategy.Result, error) {
	d := rn.d
	var taken []strategy.Request
	err := d.Save(ctx, func(r *strategy.Record) error {
		taken = r.Take(func(q strategy.Request) bool {
			return rn.takes(q, a, promoting) && q.Action != strategy.ActionUndo
		})
		for _, q := range r.Requests {
			// An Undo stays in the record for the Run that ships it, and
			// stops this one.
			if q.Action == strategy.ActionUndo && rn.takes(q, a, promoting) {
				taken = append(taken, q)
			}
		}
		for _, q := range taken {
			r.PauseOrResume(q, a.promotable && r.Message != "")
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	var out outcome
	for _, q := range taken {
		d.Emit(ctx, strategy.Event{Type: strategy.EventRequestHandled, Message: fmt.Sprintf("%s from %s", q.Action, q.By)})
		switch q.Action {
		case strategy.ActionAbort:
			res, err := rn.abort(ctx, strategy.ReasonRequested, "aborted by "+q.By)
			return 0, res, err
		case strategy.ActionReplace, strategy.ActionUndo:
			res, err := rn.abort(ctx, strategy.ReasonSuperseded, fmt.Sprintf("replaced by %s (%s from %s)", q.Revision, q.Action, q.By))
			return 0, res, err
		case strategy.ActionPromote:
			out = max(out, promoted)
		case strategy.ActionPromoteFull:
			out = fullyPromoted
		}
	}
	return out, nil, nil
}

// awaitAvailable waits until slot has n available pods of revision. full
// reports a PromoteFull that arrived meanwhile.
func (rn *run) awaitAvailable(ctx context.Context, slot, revision string, n int32) (*strategy.Result, bool, error) {
	if n == 0 {
		return nil, false, nil
	}
	out, res, err := rn.await(ctx, awaitSpec{
		reason: fmt.Sprintf("waiting for %d available pods of %s in slot %s", n, revision, slot),
		cond: func() (bool, time.Time) {
			got, next := rn.sl.Available(slot, revision, rn.minReady())
			return got >= n, next
		},
		deadline: rn.d.Now().Add(rn.s.spec.progressDeadline()),
	})
	if out == fullyPromoted {
		// The pods are still needed: wait on, then skip the rest.
		res, _, err := rn.awaitAvailable(ctx, slot, revision, n)
		return res, true, err
	}
	return res, false, err
}

// awaitEndpoints waits until service's ready endpoints include n of the
// slot's pods and, if only, nothing else.
func (rn *run) awaitEndpoints(ctx context.Context, service, slot string, n int32, only bool) (*strategy.Result, error) {
	reason := fmt.Sprintf("waiting for Service %s to route to %d pods of slot %s", service, n, slot)
	if only {
		reason = fmt.Sprintf("waiting for Service %s to route only to slot %s", service, slot)
	}
	_, res, err := rn.await(ctx, awaitSpec{
		reason: reason,
		cond: func() (bool, time.Time) {
			on, off := rn.sl.Endpoints(service, slot)
			return on >= n && (off == 0 || !only), time.Time{}
		},
		deadline: rn.d.Now().Add(rn.s.spec.progressDeadline()),
	})
	return res, err
}

// awaitShrunk waits until the stable Service's ready endpoints in the two
// slots are at most the slots' sizes, so that the served shares are those
// of the split.
func (rn *run) awaitShrunk(ctx context.Context, st state, canary, stable int32) (*strategy.Result, error) {
	svc := rn.s.spec.StableService
	_, res, err := rn.await(ctx, awaitSpec{
		reason: fmt.Sprintf("waiting for Service %s to route to %d canary and %d stable pods", svc, canary, stable),
		cond: func() (bool, time.Time) {
			c, _ := rn.sl.Endpoints(svc, st.Canary)
			s, _ := rn.sl.Endpoints(svc, st.Stable)
			return c <= canary && s <= stable, time.Time{}
		},
		deadline: rn.d.Now().Add(rn.s.spec.progressDeadline()),
	})
	return res, err
}

// abort sends all traffic back to the stable slot at once and records the
// release as Aborted; the canary is scaled down after AbortScaleDownDelay
// by finishAbort. A release replaced by a newer revision keeps its canary
// slot for the next release, which redeploys it.
func (rn *run) abort(ctx context.Context, reason strategy.Reason, msg string) (*strategy.Result, error) {
	rn.stopBackground()
	st, spec, app := rn.state(), rn.s.spec, rn.rel.App.Name
	if st.Stable == "" {
		// A first release has nothing to go back to: the canary keeps
		// serving.
		return rn.d.Finish(ctx, strategy.PhaseAborted, reason, msg, strategy.Revision{})
	}
	stableRev, total := rn.d.Record().Stable, rn.total()
	if !st.Promoted.IsZero() {
		stableRev, _ = rn.sl.Revision(st.Stable)
	}
	// The stable slot takes all traffic: it must have its full size first.
	if have := rn.sl.Size(st.Stable); have < total {
		if err := rn.sl.Scale(ctx, SlotName(app, st.Stable), total); err != nil {
			return nil, err
		}
		deadline := rn.d.Now().Add(spec.progressDeadline())
		if _, err := rn.d.Wait(ctx, strategy.WaitFor{Sources: rn.sl.Sources(), Until: deadline,
			Reason: fmt.Sprintf("growing stable slot %s back to %d pods before it takes all traffic", st.Stable, total),
			Cond: func() (bool, error) {
				n, _ := rn.sl.Available(st.Stable, stableRev, rn.minReady())
				return n >= total, nil
			}}); err != nil {
			return nil, err
		}
	}
	if spec.Router != nil {
		if !st.Promoted.IsZero() {
			if err := rn.sl.Point(ctx, spec.StableService, st.Stable); err != nil {
				return nil, err
			}
		}
		if err := rn.setWeight(ctx, 0); err != nil {
			return nil, err
		}
		if err := rn.removeRoutes(ctx, st); err != nil {
			return nil, err
		}
	} else if reason != strategy.ReasonSuperseded {
		// Without a router the canary's pods are its traffic: it ends when
		// they have left the Service's endpoints.
		if err := rn.sl.Scale(ctx, SlotName(app, st.Canary), 0); err != nil {
			return nil, err
		}
		if _, err := rn.d.Wait(ctx, strategy.WaitFor{Sources: rn.sl.Sources(), Until: rn.d.Now().Add(spec.progressDeadline()),
			Reason: fmt.Sprintf("waiting for the canary's pods to leave Service %s", spec.StableService),
			Cond: func() (bool, error) {
				n, _ := rn.sl.Endpoints(spec.StableService, st.Canary)
				return n == 0, nil
			}}); err != nil {
			return nil, err
		}
	}
	rn.d.Emit(ctx, strategy.Event{Type: strategy.EventTraffic, Message: fmt.Sprintf("all traffic back on stable slot %s", st.Stable)})
	if reason == strategy.ReasonSuperseded {
		return rn.d.Finish(ctx, strategy.PhaseAborted, reason, msg, strategy.Revision{})
	}
	err := rn.save(ctx, stepAbort, func(s *state, r *strategy.Record) {
		s.Aborted, s.Weight, s.Routes, s.Serving, s.Promoted = rn.d.Now(), 0, false, s.Stable, time.Time{}
		r.Phase, r.Reason, r.Message, r.Stable = strategy.PhaseAborted, reason, msg, stableRev
		r.Paused, r.PauseUntil = false, time.Time{}
	})
	if err != nil {
		return nil, err
	}
	return rn.finishAbort(ctx)
}

// finishAbort scales the aborted canary down once AbortScaleDownDelay has
// passed, and ends the release.
func (rn *run) finishAbort(ctx context.Context) (*strategy.Result, error) {
	st, rec := rn.state(), rn.d.Record()
	if rn.s.spec.Router != nil {
		delay := rn.s.spec.abortScaleDownDelay()
		if _, err := rn.d.Wait(ctx, strategy.WaitFor{Until: st.Aborted.Add(delay),
			Reason: fmt.Sprintf("aborted revision keeps running %s", delay)}); err != nil {
			return nil, err
		}
	}
	if err := rn.sl.Scale(ctx, SlotName(rn.rel.App.Name, st.Canary), 0); err != nil {
		return nil, err
	}
	return rn.d.Finish(ctx, strategy.PhaseAborted, rec.Reason, rec.Message, strategy.Revision{})
}

// background runs the background checks of a release.
type background struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error // the first failure
	change chan struct{}
}

// Changed implements strategy.Source: it is closed when a check fails.
func (b *background) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.change
}

// ended reports whether a background check failed.
func (b *background) ended() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err != nil
}

func (rn *run) startBackground(ctx context.Context) {
	if rn.bg != nil {
		return
	}
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b := &background{cancel: cancel, change: make(chan struct{})}
	rn.bg = b
	in := rn.checkInput()
	in.Clock = rn.s.cfg.Clock
	in.Emit = rn.d.Emitter(rn.d.Record().Step, rn.d.Record().StepName+" (background)")
	rn.d.Emit(ctx, strategy.Event{Type: strategy.EventCheck, Message: fmt.Sprintf("background analysis started: %d checks", len(rn.s.spec.Background.Checks))})
	for _, c := range rn.s.spec.Background.Checks {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			err := c.Func(bctx, in)
			if err == nil || bctx.Err() != nil && errors.Is(err, context.Canceled) {
				return
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.err == nil && bctx.Err() == nil {
				b.err = &strategy.CheckError{Check: c.Name, Err: err}
				close(b.change)
			}
		}()
	}
}

// stopBackground stops the background checks and waits for them.
func (rn *run) stopBackground() {
	if rn.bg == nil {
		return
	}
	rn.bg.cancel()
	rn.bg.wg.Wait()
}

// judgeBackground aborts the release, or pauses it for a decision, once a
// background check failed.
func (rn *run) judgeBackground(ctx context.Context) (*strategy.Result, error) {
	b := rn.bg
	if !b.ended() {
		return nil, nil
	}
	b.mu.Lock()
	err := b.err
	b.mu.Unlock()
	rn.d.Emit(ctx, strategy.Event{Type: strategy.EventCheck, Message: "background analysis failed", Err: err})
	if errors.Is(err, strategy.ErrInconclusive) {
		// Judged once: a person decides, then the steps go on without it.
		rn.stopBackground()
		b.mu.Lock()
		b.err = nil
		b.mu.Unlock()
		res, _, derr := rn.decide(ctx, err.Error())
		return res, derr
	}
	return rn.abort(ctx, strategy.ReasonAnalysisFailed, err.Error())
}

// stopBackgroundAndJudge ends the background analysis before promotion;
// a failure that came in meanwhile still aborts.
func (rn *run) stopBackgroundAndJudge(ctx context.Context) (*strategy.Result, error) {
	if rn.bg == nil {
		return nil, nil
	}
	res, err := rn.judgeBackground(ctx)
	rn.stopBackground()
	return res, err
}

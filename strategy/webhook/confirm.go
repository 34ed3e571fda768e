package webhook

import (
	"context"
	"net/http"

	"github.com/switchyard-dev/switchyard/strategy"
)

// confirm is the Func of a Confirm.
func (h *hook) confirm(ctx context.Context, in strategy.CheckInput) error {
	r, end, err := h.start(in)
	if err != nil {
		return err
	}
	defer end()
	octx, cancel := r.withTimeout(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		rep := r.ask(octx, attempt)
		if octx.Err() != nil {
			return r.ended(ctx, "not approved")
		}
		approved, err := r.decide(rep)
		if approved || err != nil {
			return err
		}
		if pause(octx, r.clk, h.cfg.interval, r.idle, r.busy) != nil {
			return r.ended(ctx, "not approved")
		}
	}
}

// decide reports whether a Confirm's reply approves, an error when it
// rejects, and neither when it says "not yet", which it reports to the
// release's observer when the reason changed since the last reply.
func (r *run) decide(rep reply) (approved bool, err error) {
	ok := rep.err == nil && rep.status >= 200 && rep.status <= 299
	switch {
	case rep.err == nil && (rep.answer.Decision == Reject || rep.status == http.StatusForbidden || rep.status == http.StatusConflict):
		e := r.ep.responseError(rep)
		e.Decision = Reject
		return false, e
	case ok && (rep.answer.Decision == "" || rep.answer.Decision == Approve):
		return true, nil
	}
	why := rep.err
	if why == nil {
		why = r.ep.responseError(rep)
	}
	r.last = why
	if msg := why.Error(); msg != r.lastWaiting {
		r.lastWaiting = msg
		r.emit(strategy.EventWaiting, nil, "waiting for approval (%s)", msg)
	}
	return false, nil
}

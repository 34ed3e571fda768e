package webhook

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
)

// hook is a Gate or a Confirm: a check that asks one endpoint.
type hook struct {
	name string
	kind Kind
	url  string
	cfg  hookConfig
	ep   *endpoint
	err  error // the configuration's *strategy.ValidationError, if any
}

func newHook(kind Kind, name, rawURL string, opts []Option) *hook {
	h := &hook{name: name, kind: kind, url: rawURL}
	for _, o := range opts {
		if o != nil {
			o.applyHook(&h.cfg)
		}
	}
	h.cfg.common = h.cfg.withDefaults(DefaultAttempts)
	if h.cfg.interval == 0 {
		h.cfg.interval = DefaultInterval
	}
	h.ep = newEndpoint(rawURL, h.cfg.common)
	var v strategy.Validator
	h.validate(&v, "check")
	h.err = v.Err()
	return h
}

// Gate returns a check that posts a Payload to rawURL and passes on a 2xx
// answer. It retries connection errors, timeouts, 408, 425, 429 and 5xx
// answers with exponential backoff and jitter on the check's clock, up to
// WithAttempts requests (5) and within WithTimeout, if set; it fails on
// any other answer, on a {"decision": "reject"} body (the error matches
// ErrRejected), and when it gives up. A 2xx {"decision": "wait"} answer
// is inconclusive: the error matches strategy.ErrInconclusive, and the
// strategy pauses the release for a person's decision.
func Gate(name, rawURL string, opts ...Option) strategy.Check {
	h := newHook(KindGate, name, rawURL, opts)
	return strategy.Check{Name: name, Func: h.gate, Validate: h.validate}
}

// Confirm returns a manual-approval check: it posts a Payload to rawURL
// at once and then every WithInterval (30s) on the check's clock, until
// the endpoint approves with a 2xx answer. A 403 or 409 answer, or a
// {"decision": "reject"} body, rejects the release at once (the error
// matches ErrRejected). Any other answer, a {"decision": "wait"} body
// with a 2xx included, and any failure to get one, means "not yet": it
// asks again, until the release's context ends or WithTimeout, if set,
// passes without an approval, which fails the check.
func Confirm(name, rawURL string, opts ...Option) strategy.Check {
	h := newHook(KindConfirm, name, rawURL, opts)
	return strategy.Check{Name: name, Func: h.confirm, Validate: h.validate}
}

// validate adds the errors of the hook's configuration at path to v.
// Nothing it adds shows a secret.
func (h *hook) validate(v *strategy.Validator, path string) {
	if h.name == "" && !hasField(v, path+".name") {
		v.Add(path+".name", nil, "must not be empty")
	}
	wp := path + ".webhook"
	if err := h.ep.checkURL(); err != nil {
		v.Add(wp+".url", h.ep.shown, "%v", err)
	}
	c := h.cfg
	for _, d := range []struct {
		field string
		d     time.Duration
	}{
		{"timeout", c.timeout}, {"attemptTimeout", c.attemptTimeout}, {"interval", c.interval},
		{"backoff.initial", c.initialBackoff}, {"backoff.max", c.maxBackoff},
	} {
		v.Check(d.d >= 0, wp+"."+d.field, d.d, "must not be negative")
	}
	v.Check(c.maxBackoff >= c.initialBackoff, wp+".backoff.max", c.maxBackoff, "must not be below the initial backoff %s", c.initialBackoff)
	v.Check(c.attempts >= 0, wp+".attempts", c.attempts, "must not be negative")
	v.Check(known(c.moment), wp+".moment", c.moment, "must be one of BeforeRelease, BeforeStep, BeforePromotion, AfterPromotion, OnRollback")
	validateCommon(v, wp, c.common)
}

// hasField reports whether v already holds an error at path.
func hasField(v *strategy.Validator, path string) bool {
	var ve *strategy.ValidationError
	return errors.As(v.Err(), &ve) && ve.Has(path)
}

// run is one run of a hook's check.
type run struct {
	*hook
	in          strategy.CheckInput
	clk         clock.WithDelayedExecution
	payload     Payload
	idle, busy  func()
	last        error // the last failure, for the error when giving up
	lastWaiting string
}

// start begins a run of the check: it fails at once when the
// configuration is invalid, and registers with an auto-advancing fake
// clock; the caller calls end when done.
func (h *hook) start(in strategy.CheckInput) (*run, func(), error) {
	if h.err != nil {
		return nil, nil, fmt.Errorf("webhook %s: %w", h.name, h.err)
	}
	r := &run{hook: h, in: in, clk: in.Clock}
	if in.Clock == nil {
		r.clk = clock.RealClock{}
	}
	var done func()
	if in.Idle != nil {
		// Run by a driver: the check's goroutine is the participant of an
		// auto-advancing clock; it is busy while a request is in flight.
		r.busy = in.Idle()
		r.busy()
		r.idle, done = func() { in.Idle() }, func() {}
	} else {
		r.idle, r.busy, done = flow.Track(in.Clock)
	}
	r.payload = Payload{
		ID: rand.Text(), Kind: h.kind, Moment: h.cfg.moment, Check: h.name, Strategy: h.cfg.strategy,
		App: in.Release.App.Name, Namespace: in.Release.App.Namespace,
		Revision: in.Release.Revision, StableRevision: in.Stable, Slot: in.Slot, Service: in.Service,
		Metadata: h.cfg.metadata,
	}
	if in.Moment != "" {
		r.payload.Moment = in.Moment
	}
	return r, func() { h.ep.closeIdle(); done() }, nil
}

// ask sends the payload once, as the given attempt.
func (r *run) ask(ctx context.Context, attempt int) reply {
	p := r.payload
	p.Attempt = attempt
	p.Timestamp = r.clk.Now().UTC()
	body, err := json.Marshal(p)
	if err != nil {
		return reply{err: fmt.Errorf("encoding the payload: %w", err)}
	}
	return r.ep.send(ctx, r.clk, p.Timestamp, body)
}

// emit reports an event of the check to the release's observer.
func (r *run) emit(typ strategy.EventType, err error, format string, args ...any) {
	if r.in.Emit != nil {
		r.in.Emit(strategy.Event{Type: typ, Message: r.name + ": " + fmt.Sprintf(format, args...), Err: err})
	}
}

// withTimeout bounds ctx by the hook's overall timeout on the run's clock.
func (r *run) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.cfg.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return analysis.WithTimeout(ctx, r.clk, r.cfg.timeout)
}

// ended returns the error of a run whose context, or the caller's, ended:
// the caller's error when the release was aborted, a failure when the
// overall timeout passed.
func (r *run) ended(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("webhook %s: %w", r.name, err)
	}
	if r.last != nil {
		return fmt.Errorf("%s within %s: %w", what, r.cfg.timeout, r.last)
	}
	return fmt.Errorf("%s within %s", what, r.cfg.timeout)
}

// gate is the Func of a Gate.
func (h *hook) gate(ctx context.Context, in strategy.CheckInput) error {
	r, end, err := h.start(in)
	if err != nil {
		return err
	}
	defer end()
	octx, cancel := r.withTimeout(ctx)
	defer cancel()
	b := h.cfg.newBackOff(r.clk)
	for attempt := 1; ; attempt++ {
		rep := r.ask(octx, attempt)
		if octx.Err() != nil {
			return r.ended(ctx, "no answer")
		}
		retry, err := r.judge(rep)
		if !retry {
			return err
		}
		r.last = err
		if attempt >= h.cfg.attempts {
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		wait := b.NextBackOff()
		r.emit(strategy.EventRetrying, err, "attempt %d of %d failed, next in %s", attempt, h.cfg.attempts, wait.Round(time.Millisecond))
		if pause(octx, r.clk, wait, r.idle, r.busy) != nil {
			return r.ended(ctx, "no answer")
		}
	}
}

// judge returns nil when a Gate's reply passes, and why it does not
// otherwise, and whether asking again may help.
func (r *run) judge(rep reply) (retry bool, err error) {
	switch {
	case rep.err != nil:
		return rep.transient, rep.err
	case rep.answer.Decision == Reject:
		return false, r.ep.responseError(rep)
	case rep.status < 200 || rep.status > 299:
		return rep.transient, r.ep.responseError(rep)
	}
	switch rep.answer.Decision {
	case "", Approve:
		return false, nil
	case Wait:
		return false, fmt.Errorf("%w: %w", strategy.ErrInconclusive, r.ep.responseError(rep))
	}
	return false, fmt.Errorf("unknown decision: %w", r.ep.responseError(rep))
}

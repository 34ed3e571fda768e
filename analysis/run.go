package analysis

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Run measures every metric of a until each is done (its count reached or
// a limit hit) or ctx ends, and reports what it saw. A metric without a
// count runs until ctx ends and is then Successful unless it failed. Once a
// metric that is not a dry run is Failed, Error or Inconclusive the run is
// decided and the other metrics stop.
//
// Every wait is on in.Clock (the real clock when nil), and each
// measurement is taken in a callback of in.Clock.AfterFunc, so a fake clock
// that advances when its participants are idle runs an analysis of hours
// in milliseconds. Each measurement is reported through in.Emit as an
// strategy.EventMeasurement.
//
// Bad input is a *strategy.ValidationError, returned before anything is
// measured. When ctx ends before a metric with a count is done, Run
// returns the report so far with an error wrapping ctx's error.
func (a Analysis) Run(ctx context.Context, in strategy.CheckInput) (*Report, error) {
	var v strategy.Validator
	a.Validate(&v, "analysis")
	if err := v.Err(); err != nil {
		return nil, err
	}
	if in.Clock == nil {
		in.Clock = clock.RealClock{}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &runner{
		a:       a,
		in:      in,
		ctx:     runCtx,
		cancel:  cancel,
		vars:    varsOf(a, in),
		start:   in.Clock.Now(),
		allDone: make(chan struct{}),
		wake:    func() {},
	}
	if in.Idle != nil {
		// The measurements' callbacks end the run's wait: they mark it busy
		// first, so that an auto-advancing clock cannot move in between.
		r.wake = in.Idle()
		r.wake()
	}
	r.remaining.Store(int64(len(a.Metrics)))
	r.metrics = make([]*metricRun, len(a.Metrics))
	for i, m := range a.Metrics {
		mr, err := r.newMetricRun(m)
		if err != nil {
			return nil, err
		}
		r.metrics[i] = mr
	}
	for _, mr := range r.metrics {
		mr.open()
	}
	for _, mr := range r.metrics {
		mr.mu.Lock()
		mr.schedule(r.start.Add(mr.m.InitialDelay))
		mr.mu.Unlock()
	}

	if in.Idle != nil {
		in.Idle()
	}
	select {
	case <-r.allDone:
	case <-runCtx.Done():
	}
	r.wake()
	r.stop()

	rep := &Report{Analysis: a.Name, Started: r.start, Finished: in.Clock.Now()}
	for _, mr := range r.metrics {
		mr.finish()
		rep.Metrics = append(rep.Metrics, mr.res)
	}
	rep.summarize()
	if !rep.Phase.Done() && ctx.Err() != nil {
		return rep, fmt.Errorf("analysis %s stopped before it decided: %w", a.Name, context.Cause(ctx))
	}
	return rep, nil
}

// runner is one run of an analysis.
type runner struct {
	a       Analysis
	in      strategy.CheckInput
	ctx     context.Context // ends when the run is decided or the caller's ctx ends
	cancel  context.CancelFunc
	vars    Vars
	start   time.Time
	metrics []*metricRun

	// wg counts scheduled and running callbacks.
	wg        sync.WaitGroup
	remaining atomic.Int64
	allDone   chan struct{}
	wake      func() // marks the run busy before its wait ends
}

// stop ends every metric's schedule and waits for running measurements.
func (r *runner) stop() {
	for _, mr := range r.metrics {
		mr.mu.Lock()
		mr.stopped = true
		if mr.timer != nil && mr.timer.Stop() {
			r.wg.Done()
		}
		mr.mu.Unlock()
	}
	r.wg.Wait()
	for _, mr := range r.metrics {
		if mr.pending != nil {
			mr.pending.Stop(context.WithoutCancel(r.ctx))
			mr.pending = nil
		}
		if c, ok := mr.prov.(interface{ Close() error }); ok && mr.opened {
			_ = c.Close()
		}
	}
}

// metricDone is called once per metric when it reaches a final phase.
func (r *runner) metricDone(mr *metricRun) {
	if !mr.m.DryRun && mr.res.Phase != PhaseSuccessful {
		r.wake()
		r.cancel() // the run is decided
	}
	if r.remaining.Add(-1) == 0 {
		r.wake()
		close(r.allDone)
	}
}

// metricRun is one metric in a run. Its callbacks run one at a time: each
// schedules the next.
type metricRun struct {
	r                *runner
	m                Metric
	query            string
	success, failure *predicate
	prov             Provider
	opened           bool // prov came from Open
	openErr          error

	mu      sync.Mutex // guards timer, stopped and next
	timer   clock.Timer
	stopped bool
	next    time.Time // when the current or next measurement is due

	pending Pending // a started measurement; owned by the callback chain

	// Owned by the callback chain; read by Run after stop.
	res                                                MetricResult
	lastFail, lastInconclusive, lastErr, lastUndecided string
	lastPhase                                          Phase
	done                                               bool
}

func (r *runner) newMetricRun(m Metric) (*metricRun, error) {
	mr := &metricRun{r: r, m: m, prov: m.Provider}
	mr.res = MetricResult{Name: m.Name, Phase: PhasePending, DryRun: m.DryRun}
	var err error
	if mr.query, err = r.vars.Render(m.Query); err != nil {
		return nil, fmt.Errorf("metric %s: query: %w", m.Name, err)
	}
	if mr.success, err = compileCondition(m.Success); err != nil {
		return nil, fmt.Errorf("metric %s: success condition: %w", m.Name, err)
	}
	if mr.failure, err = compileCondition(m.Failure); err != nil {
		return nil, fmt.Errorf("metric %s: failure condition: %w", m.Name, err)
	}
	return mr, nil
}

func (mr *metricRun) queryOf() Query {
	return Query{Text: mr.query, Metric: mr.m.Name, Vars: mr.r.vars, Input: mr.r.in, Start: mr.r.start}
}

// open asks an Opener provider for the provider of this run. A failure is
// retried at each measurement, which is an Error until it succeeds.
func (mr *metricRun) open() {
	o, ok := mr.m.Provider.(Opener)
	if !ok {
		return
	}
	p, err := o.Open(mr.r.ctx, mr.queryOf())
	if err != nil {
		mr.prov, mr.openErr = nil, err
		return
	}
	mr.prov, mr.opened, mr.openErr = p, true, nil
}

// schedule arms the next measurement at t; mr.mu is held.
func (mr *metricRun) schedule(t time.Time) {
	mr.next = t
	mr.after(t, mr.fire)
}

// after arms a callback at t; mr.mu is held.
func (mr *metricRun) after(t time.Time, f func()) {
	if mr.stopped {
		return
	}
	mr.r.wg.Add(1)
	mr.timer = mr.r.in.Clock.AfterFunc(t.Sub(mr.r.in.Clock.Now()), f)
}

// live reports whether the run still wants measurements.
func (mr *metricRun) live() bool {
	mr.mu.Lock()
	defer mr.mu.Unlock()
	return !mr.stopped && mr.r.ctx.Err() == nil
}

// fire takes one measurement, or starts one; it runs in an AfterFunc
// callback.
func (mr *metricRun) fire() {
	defer mr.r.wg.Done()
	ctx := mr.r.ctx
	if !mr.live() {
		return
	}
	if mr.prov == nil {
		mr.open()
	}
	var res Result
	err := mr.openErr
	if err == nil {
		if st, ok := mr.prov.(Starter); ok {
			if mr.pending, err = st.Start(ctx, mr.queryOf()); err == nil {
				mr.poll(false)
				return
			}
		} else {
			res, err = mr.prov.Measure(ctx, mr.queryOf())
		}
	}
	if ctx.Err() != nil {
		return // the run ended while measuring: not a measurement
	}
	mr.complete(res, err)
}

// poll checks a started measurement, now or (first) after its poll
// interval; it runs in an AfterFunc callback.
func (mr *metricRun) poll(now bool) {
	ctx := mr.r.ctx
	if now {
		if !mr.live() {
			return
		}
		res, done, err := mr.pending.Poll(ctx)
		if ctx.Err() != nil {
			return // the run ended; stop releases the measurement
		}
		if done || err != nil {
			mr.pending.Stop(ctx)
			mr.pending = nil
			mr.complete(res, err)
			return
		}
	}
	mr.mu.Lock()
	mr.after(mr.r.in.Clock.Now().Add(mr.pending.PollInterval()), func() {
		defer mr.r.wg.Done()
		mr.poll(true)
	})
	mr.mu.Unlock()
}

// complete judges and records a measurement, and schedules the next one
// unless the metric is done.
func (mr *metricRun) complete(res Result, err error) {
	meas := mr.judge(res, err)
	mr.record(meas)
	if emit := mr.r.in.Emit; emit != nil {
		emit(meas.event(mr.r.a.Name, mr.m.Name, mr.limit()))
	}
	phase, msg, final := mr.assess(res.Done && err == nil)
	mr.res.Phase, mr.res.Message = phase, msg

	wait := mr.m.Interval
	if meas.Phase == PhaseError {
		wait = mr.m.errorInterval()
	}
	mr.mu.Lock()
	if final {
		mr.done = true
	} else {
		mr.schedule(mr.next.Add(wait))
	}
	mr.mu.Unlock()
	if final {
		mr.r.metricDone(mr)
	}
}

// finish settles the phase of a metric that was stopped before it was done.
func (mr *metricRun) finish() {
	if mr.done {
		return
	}
	s, name := &mr.res, mr.m.Name
	switch {
	case mr.m.count() > 0 && s.Count > 0:
		s.Phase = PhaseRunning
		s.Message = fmt.Sprintf("metric %s stopped after %d of %d measurements", name, s.Count, mr.m.count())
	case mr.m.count() > 0:
		s.Phase = PhasePending
		s.Message = fmt.Sprintf("metric %s stopped before its first measurement", name)
		if s.Error > 0 {
			s.Message += fmt.Sprintf(" (%d errors, last: %s)", s.Error, mr.lastErr)
		}
	case mr.lastPhase == PhaseRunning:
		s.Phase = PhaseInconclusive
		s.Message = fmt.Sprintf("metric %s undecided after %d measurements: %s", name, s.Count, mr.lastUndecided)
	case mr.m.ConsecutiveSuccessLimit > 0:
		s.Phase = PhaseInconclusive
		s.Message = fmt.Sprintf("metric %s stopped after %d measurements without %d successes in a row",
			name, s.Count, mr.m.ConsecutiveSuccessLimit)
	default:
		s.Phase = PhaseSuccessful
		s.Message = fmt.Sprintf("metric %s successful until stopped: %s", name, mr.tally())
	}
}

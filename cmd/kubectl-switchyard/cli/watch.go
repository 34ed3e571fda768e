package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

func (e *env) watchCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "watch APP",
		Short: "Follow a release live until it ends",
		Long: "Follow a release until it reaches a terminal phase, on a watch of its release record.\n" +
			"On a terminal the view is redrawn in place at every change (and each second, for the ages):\n" +
			"phase, steps with the current one marked, lease holder, pending requests, latest measurements.\n" +
			"Otherwise one line is appended per change. Ctrl-C stops watching; the release goes on.\n" +
			"Exits 0 when the release succeeded, 5 when it ended Aborted or Failed.\n" +
			"Needs get, list and watch on configmaps.\n" + exitCodesHelp,
		Example: "  kubectl switchyard watch web -n shop\n  kubectl switchyard watch web -n shop | tee release.log",
		Args:    oneApp,
		RunE:    func(cmd *cobra.Command, args []string) error { return e.watch(cmd.Context(), args) },
	}
}

// view shows each status watch sees.
type view interface {
	show(st *strategy.Status)
}

var (
	_ view = (*lineView)(nil)
	_ view = (*liveView)(nil)
)

func (e *env) watch(ctx context.Context, args []string) error {
	c, app, err := e.control(args)
	if err != nil {
		return err
	}
	st, err := c.Status(ctx, app)
	if err != nil {
		return explain(err, app, "get")
	}
	var v view = &lineView{w: e.streams.Out, clock: e.set.clock}
	if e.set.width > 0 {
		live := newLiveView(e.streams.Out, e.set.width, e.set.clock)
		defer live.refresh(ctx)()
		v = live
	}
	v.show(st)
	final, err := c.Await(ctx, app, func(st *strategy.Status) bool {
		v.show(st)
		return st.Phase.Terminal()
	})
	switch {
	case errors.Is(err, context.Canceled):
		return withCode(ExitInterrupted, "stopped watching; the release goes on")
	case err != nil:
		return explain(err, app, "get, list and watch")
	}
	return endedBadly("", final)
}

// lineView appends one line per change.
type lineView struct {
	w     io.Writer
	clock clock.PassiveClock
	last  string
}

func (v *lineView) show(st *strategy.Status) {
	s := summary(st)
	if s == v.last {
		return
	}
	v.last = s
	fmt.Fprintf(v.w, "%s %s\n", v.clock.Now().UTC().Format(time.RFC3339), s)
}

// liveView redraws a frame in place on a terminal.
type liveView struct {
	mu    sync.Mutex
	w     io.Writer
	width int
	clock clock.WithTicker
	seen  map[int]string
	last  *strategy.Status
	shown string // the frame on screen
	drawn int    // its lines
}

func newLiveView(w io.Writer, width int, clk clock.WithTicker) *liveView {
	return &liveView{w: w, width: width, clock: clk, seen: map[int]string{}}
}

func (v *liveView) show(st *strategy.Status) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if st.StepName != "" && st.StepName != record.StepAborting {
		v.seen[st.Step] = st.StepName
	}
	v.last = st
	v.draw()
}

// draw replaces the frame on screen with the last status's; v.mu is held.
func (v *liveView) draw() {
	if v.last == nil {
		return
	}
	out := frame{st: v.last, now: v.clock.Now(), seen: v.seen, width: v.width}.render()
	if out == v.shown {
		return
	}
	v.shown = out
	if v.drawn > 0 {
		// Up to the frame's first line, and clear to the end of the screen.
		out = fmt.Sprintf("\x1b[%dA\r\x1b[J", v.drawn) + out
	}
	v.drawn = strings.Count(out, "\n")
	_, _ = io.WriteString(v.w, out)
}

// refresh redraws the frame each second, so that its ages stay true while
// the record does not change, until the returned function is called.
func (v *liveView) refresh(ctx context.Context) (stop func()) {
	t := v.clock.NewTicker(time.Second)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
				v.mu.Lock()
				v.draw()
				v.mu.Unlock()
			}
		}
	})
	return func() {
		cancel()
		t.Stop()
		wg.Wait()
	}
}

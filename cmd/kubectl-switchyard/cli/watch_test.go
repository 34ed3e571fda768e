package cli

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/strategy"
)

// watchInBackground runs watch web while the test steers the release; the
// result arrives on the channel, the output in out as it is written.
func (h *harness) watchInBackground(ctx context.Context, opts ...Option) (*syncBuffer, *syncBuffer, <-chan int) {
	out, errOut := &syncBuffer{}, &syncBuffer{}
	code := make(chan int, 1)
	opts = append([]Option{WithKube(h.c.Clients().Kube, "default"), WithClock(h.c.Clock())}, opts...)
	go func() { code <- Run(ctx, []string{"watch", "web"}, Streams{Out: out, Err: errOut}, opts...) }()
	return out, errOut, code
}

func (h *harness) exitCode(code <-chan int) int {
	h.t.Helper()
	select {
	case c := <-code:
		return c
	case <-h.ctx.Done():
		h.t.Fatalf("waiting for the command to end: %v", h.ctx.Err())
	}
	return -1
}

// startV2 ships v1, starts v2 with a manual promotion, and waits until its
// record names v2, so that a watch follows v2 and not v1's end.
func (h *harness) startV2() <-chan outcome {
	h.ship(h.strategy(false), "v1")
	done := h.start(h.strategy(true), "v2")
	h.await("v2 under way", func(st *strategy.Status) bool { return st.Revision == "v2" })
	return done
}

var timestamped = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ web v2 `)

// TestWatchLines follows a release, when the output is not a terminal,
// from its first steps through its pause to its end, one line per change.
func TestWatchLines(t *testing.T) {
	h := newHarness(t)
	done := h.startV2()
	out, errOut, code := h.watchInBackground(h.ctx)
	require.True(t, out.waitFor(h.ctx, "v2 Paused step 3 promotion"), out.String())
	r := h.run("promote", "web")
	require.Equal(t, ExitOK, r.code, r.err)
	require.NoError(t, h.finish(done).err)

	assert.Equal(t, ExitOK, h.exitCode(code), errOut.String())
	assert.Empty(t, errOut.String())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.GreaterOrEqual(t, len(lines), 3, out.String())
	paused, last := -1, lines[len(lines)-1]
	for i, l := range lines {
		assert.Regexp(t, timestamped, l)
		if i > 0 {
			assert.NotEqual(t, timestamped.ReplaceAllString(lines[i-1], ""), timestamped.ReplaceAllString(l, ""), "a line with no change")
		}
		if strings.HasSuffix(l, "Paused step 3 promotion driver driver: paused until Promote") {
			paused = i
		}
	}
	assert.GreaterOrEqual(t, paused, 0, "no line for the pause:\n%s", out.String())
	assert.Regexp(t, `web v2 Succeeded weight 100% driver none: v2 serves from slot green$`, last)
	assert.NotContains(t, out.String(), "\x1b[", "no terminal escapes in plain output")
}

// TestWatchTerminal follows a release on a terminal: the view is redrawn
// in place, marks the current step, and ends with exit code 5 when the
// release is aborted.
func TestWatchTerminal(t *testing.T) {
	h := newHarness(t)
	done := h.startV2()
	out, errOut, code := h.watchInBackground(h.ctx, WithTerminal(120))
	require.True(t, out.waitFor(h.ctx, "▶ 3 promotion  ← current"), out.String())
	r := h.run("abort", "web")
	require.Equal(t, ExitOK, r.code, r.err)
	assert.ErrorIs(t, h.finish(done).err, strategy.ErrAborted)

	assert.Equal(t, ExitReleaseFailed, h.exitCode(code))
	assert.Equal(t, "error: the release of v2 ended Aborted (Requested): aborted by oncall\n", errOut.String())
	frames := strings.Split(out.String(), "\r\x1b[J")
	require.GreaterOrEqual(t, len(frames), 2, "the view was never redrawn:\n%s", out.String())
	for i, f := range frames[:len(frames)-1] {
		n := strings.Count(f[strings.Index(f, "web in default"):], "\n")
		assert.True(t, strings.HasSuffix(f, "\x1b["+strconv.Itoa(n)+"A"), "frame %d must end by moving up its %d lines:\n%q", i, n, f)
	}
	last := frames[len(frames)-1]
	assert.True(t, strings.HasPrefix(last, "web in default · bluegreen · v2 (stable v1)\n"), last)
	for _, want := range []string{"Phase:    Aborted (Requested): aborted by oncall\n", "  ✓ 2 pre-promotion\n",
		"  ✗ 3 promotion  ← aborted here\n", "    8 scale-down\n", "The release has ended.\n"} {
		assert.Contains(t, last, want)
	}
}

// TestWatchInterrupted: Ctrl-C (the context ending) stops watching with
// exit code 130; the release goes on.
func TestWatchInterrupted(t *testing.T) {
	h := newHarness(t)
	done := h.pausedV2()
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	out, errOut, code := h.watchInBackground(ctx)
	require.True(t, out.waitFor(h.ctx, "Paused step 3 promotion"), out.String())
	cancel()
	assert.Equal(t, ExitInterrupted, h.exitCode(code))
	assert.Equal(t, "stopped watching; the release goes on\n", errOut.String())
	st := h.await("v2 still paused", func(*strategy.Status) bool { return true })
	assert.Equal(t, strategy.PhasePaused, st.Phase)
	require.NoError(t, h.control.Promote(h.ctx, h.app))
	require.NoError(t, h.finish(done).err)
}

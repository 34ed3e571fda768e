package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// TestPromoteWait promotes a paused release and waits until the driver
// took the request; the release then succeeds.
func TestPromoteWait(t *testing.T) {
	h := newHarness(t)
	done := h.pausedV2()
	r := h.run("promote", "web", "--wait")
	require.Equal(t, ExitOK, r.code, r.err)
	lines := strings.Split(r.out, "\n")
	require.GreaterOrEqual(t, len(lines), 5, r.out)
	assert.Equal(t, "web in default: v2 is Paused at step 3 (promotion); v1 serves.", lines[0])
	assert.Equal(t, "Sending Promote: move the release past its current step.", lines[1])
	assert.Regexp(t, `^Promote recorded in the release record web.switchyard; the driver driver \(lease renewed \d+s ago\) carries it out`, lines[2])
	assert.Equal(t, "Waiting up to 5m0s for the driver to take it...", lines[3])
	assert.Regexp(t, `^Taken. Now web in default: v2 is (Paused|Progressing|Promoting|Succeeded)\b`, lines[4])
	assert.Empty(t, r.err)
	o := h.finish(done)
	require.NoError(t, o.err)
	assert.Equal(t, strategy.PhaseSucceeded, o.res.Phase)
}

// TestPromoteFullJSON: promote --full -o json prints the resulting status
// as JSON on stdout and its notes on stderr.
func TestPromoteFullJSON(t *testing.T) {
	h := newHarness(t)
	done := h.pausedV2()
	r := h.run("promote", "web", "--full", "--wait", "-o", "json")
	require.Equal(t, ExitOK, r.code, r.err)
	var got ReleaseStatus
	require.NoError(t, json.Unmarshal([]byte(r.out), &got), r.out)
	assert.Equal(t, "v2", got.Revision)
	for _, q := range got.Pending {
		assert.NotEqual(t, "oncall", q.By, "the request is still pending: %+v", q)
	}
	assert.Contains(t, r.err, "Sending PromoteFull: skip every remaining step and promote v2.\n")
	assert.Contains(t, r.err, "Taken. Now web in default: v2 is ")
	require.NoError(t, h.finish(done).err)
}

// TestAbortThenRetry aborts a paused release and waits for it (exit 0:
// Aborted is what abort asks for); watch then exits 5; retry is recorded
// for the next Run, which releases v2 again.
func TestAbortThenRetry(t *testing.T) {
	h := newHarness(t)
	done := h.pausedV2()
	r := h.run("abort", "web", "--wait", "-o", "yaml")
	require.Equal(t, ExitOK, r.code, r.err)
	assert.Contains(t, r.out, "phase: Aborted\n")
	assert.Contains(t, r.out, "reason: Requested\n")
	assert.Contains(t, r.out, "message: aborted by oncall\n")
	assert.Contains(t, r.err, "Sending Abort: send all traffic back to v1 at once and end the release Aborted.\n")
	o := h.finish(done)
	require.ErrorIs(t, o.err, strategy.ErrAborted)

	r = h.run("watch", "web")
	assert.Equal(t, ExitReleaseFailed, r.code)
	assert.Regexp(t, `^\S+ web v2 Aborted \(Requested\) driver none: aborted by oncall\n$`, r.out)
	assert.Equal(t, "error: the release of v2 ended Aborted (Requested): aborted by oncall\n", r.err)

	r = h.run("retry", "web")
	require.Equal(t, ExitOK, r.code, r.err)
	assert.Contains(t, r.out, "Sending Retry: release v2 again from its first step.\n")
	assert.Contains(t, r.out, "Retry recorded in the release record web.switchyard; the release has ended, so it takes effect at the next Run of the app")
	st := h.await("the pending retry", func(st *strategy.Status) bool { return len(st.Pending) == 1 })
	assert.Equal(t, strategy.ActionRetry, st.Pending[0].Action)
	assert.Equal(t, "oncall", st.Pending[0].By)

	r = h.run("status", "web")
	assert.Regexp(t, `Pending:  Retry #\d+ by oncall, \d+s ago\n`, r.out)
	done = h.start(h.strategy(false), "v2")
	require.NoError(t, h.finish(done).err)
}

// TestRefusals: requests that do not apply exit 4 with the reason and
// what to do instead.
func TestRefusals(t *testing.T) {
	h := newHarness(t)
	h.ship(h.strategy(false), "v1")
	h.ship(h.strategy(false), "v2")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"promote", "web"}, "error: Promote refused: it does not apply to a release in phase Succeeded; the release has ended and v2 serves; undo --to REV goes back to an earlier revision.\n"},
		{[]string{"retry", "web"}, "error: Retry refused: it does not apply to a release in phase Succeeded; the release has ended and v2 serves"},
		{[]string{"pause", "web", "--wait"}, "error: Pause refused: it does not apply to a release in phase Succeeded"},
		{[]string{"undo", "web", "--to", "v9"}, "error: undo default/web to \"v9\": revision not in release history: kubectl switchyard history web -n default lists the revisions undo can go back to\n"},
	}
	for _, c := range cases {
		r := h.run(c.args...)
		assert.Equal(t, ExitRefused, r.code, "%v: %s", c.args, r.err)
		assert.Contains(t, r.err, c.want, "%v", c.args)
		assert.Contains(t, r.out, "web in default: v2 is Succeeded; v2 serves.\n", "%v", c.args)
	}
	st := h.await("no request", func(*strategy.Status) bool { return true })
	assert.Empty(t, st.Pending, "a refused request is never recorded")
}

// TestWaitTimeout: --wait gives up after --timeout when no driver takes
// the request, and says so (exit 1); a non-positive --timeout is a usage
// error.
func TestWaitTimeout(t *testing.T) {
	h := newHarness(t)
	h.ship(h.strategy(false), "v1")
	h.ship(h.strategy(false), "v2")
	r := h.run("undo", "web", "--wait", "--timeout", "50ms")
	assert.Equal(t, ExitError, r.code)
	assert.Contains(t, r.out, "Waiting up to 50ms for the driver to take it...\n")
	assert.Equal(t, "error: timed out after 50ms: Undo stays recorded and takes effect at the next Run of web, which has not started\n", r.err)
	r = h.run("undo", "web", "--wait", "--timeout", "0s")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.err, "error: --timeout 0s: give a positive duration")
}

// TestTimedOutInFlight: a request a release in flight did not take in
// time names the lease, which tells whether a driver runs it.
func TestTimedOutInFlight(t *testing.T) {
	st := paused()
	st.Lease.Renewed = t0.Add(-time.Hour)
	assert.EqualError(t, timedOut(strategy.ActionPromote, st, time.Minute, t0),
		"timed out after 1m0s waiting for the driver to take Promote; it stays recorded. Lease: deployer-0, lapsed 59m ago "+
			"(renewed 60m ago): its driver stopped; the next Run of the app continues the release")
}

// TestRefusalWithReason: a refusal the release explains is printed with
// its reason.
func TestRefusalWithReason(t *testing.T) {
	st := &strategy.Status{App: types.NamespacedName{Namespace: "shop", Name: "web"}, Phase: strategy.PhasePromoting}
	err := refused(fmt.Errorf("x: %w", &strategy.PhaseError{Action: strategy.ActionAbort, Phase: strategy.PhasePromoting,
		Why: "the previous revision's pods are being removed; release it again with Run or Undo once this release ends"}), strategy.ActionAbort, st)
	assert.Equal(t, ExitRefused, ExitCode(err))
	assert.EqualError(t, err, "Abort refused in phase Promoting: the previous revision's pods are being removed; "+
		"release it again with Run or Undo once this release ends")
}

// TestUndoDefault: undo without --to goes back to the newest earlier
// revision that succeeded, at the next Run; without one it is a usage
// error.
func TestUndoDefault(t *testing.T) {
	h := newHarness(t)
	h.ship(h.strategy(false), "v1")
	r := h.run("undo", "web")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.err, "error: no earlier revision of web succeeded: name one with --to (kubectl switchyard history web -n default lists them)")

	h.ship(h.strategy(false), "v2")
	r = h.run("undo", "web")
	require.Equal(t, ExitOK, r.code, r.err)
	assert.Contains(t, r.out, "Sending Undo: go back to revision v1.\n")
	st := h.await("the pending undo", func(st *strategy.Status) bool { return len(st.Pending) == 1 })
	assert.Equal(t, strategy.Request{Seq: st.Pending[0].Seq, Action: strategy.ActionUndo, Revision: "v1", By: "oncall",
		At: st.Pending[0].At, Step: st.Pending[0].Step}, st.Pending[0])
}

// TestPauseResume holds a release waiting for pods that never turn
// ready, and lets it go again. The clock does not move by itself, so the
// release stays where it is between the requests.
func TestPauseResume(t *testing.T) {
	h := newHarnessOn(t, fake.NewCluster())
	h.c.SetBehavior("v1", fake.Behavior{NeverReady: true})
	done := h.start(h.strategy(false), "v1")
	h.await("v1 waiting for its pods", func(st *strategy.Status) bool { return st.StepName == "preview-available" })

	r := h.run("pause", "web", "--wait")
	require.Equal(t, ExitOK, r.code, r.err)
	assert.Contains(t, r.out, "Sending Pause: hold the release at its current step until resume.\n")
	assert.Contains(t, r.out, "Taken. Now web in default: v1 is Paused at step 1 (preview-available).\n")
	r = h.run("status", "web")
	assert.Contains(t, r.out, "Phase:    Paused, held by a Pause request\n")
	assert.Regexp(t, `\n  kubectl switchyard resume web -n default +# lift the Pause request\n`, r.out)
	assert.Regexp(t, `\n  kubectl switchyard abort web -n default +# end the release Aborted \(there is no earlier revision to go back to\)\n`, r.out)

	r = h.run("pause", "web")
	assert.Equal(t, ExitRefused, r.code)
	assert.Contains(t, r.err, "error: Pause refused: it does not apply to a release in phase Paused; the release is paused already")

	r = h.run("resume", "web", "--wait", "-o", "json")
	require.Equal(t, ExitOK, r.code, r.err)
	var got ReleaseStatus
	require.NoError(t, json.Unmarshal([]byte(r.out), &got), r.out)
	assert.Equal(t, strategy.PhaseProgressing, got.Phase)
	assert.False(t, got.Paused)

	r = h.run("abort", "web", "--wait")
	require.Equal(t, ExitOK, r.code, r.err)
	assert.Contains(t, r.out, "Taken. Now web in default: v1 is Aborted at step 1 (abort-scale-down).\n")
	h.c.Clock().SetAutoAdvance(true) // on to the end of the abort scale-down delay
	assert.ErrorIs(t, h.finish(done).err, strategy.ErrAborted)
}

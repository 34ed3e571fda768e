package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// trialsAtOnce bounds the kill trials that run at the same time, each in
// a namespace of its own.
const trialsAtOnce = 5

// crashEnv is a namespace where v1 was released with the "every-step"
// profile and the test's watches run.
func crashEnv(t *testing.T) *env {
	e := newEnv(t)
	var runs atomic.Int32
	e.run(e.strategy(profiles["every-step"](&runs), strategy.WithIdentity("driver-1")), "v1")
	e.servesOnly(bluegreen.Blue)
	return e
}

// killed is what a trial knows of the driver it killed.
type killed struct {
	writes []e2ekit.Write // its writes, the last one last
	at     time.Time      // when it was dead
	status *strategy.Status
}

// killAfter runs v2 in a driver process that stops right after its k-th
// write and is then sent SIGKILL.
func (e *env) killAfter(kc string, k int) killed {
	e.t.Helper()
	return e.kill(kc, driverArgs{Profile: "every-step", Revision: "v2", Identity: "driver-1", StopAfter: k})
}

// kill runs a driver process as args say, and sends it SIGKILL once it
// stopped after the write args name.
func (e *env) kill(kc string, args driverArgs) killed {
	e.t.Helper()
	p := e.startDriver(kc, args)
	m, err := p.Next(e.ctx, "stopped")
	require.NoError(e.t, err, "the driver makes the write to stop after")
	var out killed
	require.NoError(e.t, json.Unmarshal(m.Data, &out.writes))
	require.NoError(e.t, p.Kill())
	err = p.Wait(e.ctx)
	require.True(e.t, p.Killed(), "the driver ended by SIGKILL: %v", err)
	out.at = time.Now()
	out.status, err = e.control.Status(e.ctx, e.app)
	require.NoError(e.t, err)
	return out
}

// resume runs v2 in the test's process as identity, with its writes
// logged, requires it to succeed, and returns when it made its first write
// of the record (zero when it made none) and how long Run took.
func (e *env) resume(identity string, lease time.Duration) (start, firstWrite time.Time, took time.Duration) {
	e.t.Helper()
	start, firstWrite, took, res, err := e.resumeRun("every-step", identity, lease)
	require.NoError(e.t, err, "the release is resumed and finished")
	require.Equal(e.t, strategy.PhaseSucceeded, res.Phase)
	return start, firstWrite, took
}

// resumeRun runs v2 with the spec of profile in the test's process as
// identity, with its writes logged, and returns when it made its first
// write of the record (zero when it made none), how long Run took and what
// it returned.
func (e *env) resumeRun(profile, identity string, lease time.Duration) (start, firstWrite time.Time, took time.Duration, res *strategy.Result, err error) {
	e.t.Helper()
	var log e2ekit.WriteLog
	clients, err := strategy.NewClients(log.Wrap(e.cfg))
	require.NoError(e.t, err)
	var runs atomic.Int32
	opts := []strategy.Option{strategy.WithIdentity(identity)}
	if lease > 0 {
		opts = append(opts, strategy.WithLeaseDuration(lease))
	}
	s := bluegreen.New(clients, profiles[profile](&runs), opts...)
	start = time.Now()
	res, err = s.Run(e.ctx, e.release("v2"))
	took = time.Since(start)
	for _, w := range log.Writes() {
		if w.IsRecord(appName) {
			return start, w.At, took, res, err
		}
	}
	return start, time.Time{}, took, res, err
}

// settled is the end state of a release and its history.
type settled struct {
	State   endState
	History []string
}

func (e *env) settled(serving string) settled {
	e.t.Helper()
	e.servesOnly(serving)
	s := settled{State: e.observe()}
	revs, phases := e.history()
	for i := range revs {
		s.History = append(s.History, fmt.Sprintf("%s %s", revs[i], phases[i]))
	}
	e.recordSettled()
	return s
}

// eventMessages returns the messages of the corev1 Events of reason in the
// test's namespace.
func (e *env) eventMessages(reason string) []string {
	e.t.Helper()
	list, err := e.kube.CoreV1().Events(e.app.Namespace).List(e.ctx, metav1.ListOptions{})
	require.NoError(e.t, err)
	var out []string
	for _, ev := range list.Items {
		if ev.Reason == reason {
			out = append(out, ev.Message)
		}
	}
	return out
}

// TestKilledDriverIsResumed kills the driver of a blue/green release with
// SIGKILL right after each of its writes in turn, and resumes the release.
// The driver runs in a process of its own, every step of the release
// doing something (a one-pod preview, checks before and after the switch,
// a delayed promotion, the old slot scaled down after the switch); it
// stops right after its k-th write (its client holds the answer and every
// later write) and the test sends it SIGKILL.
//
// A new driver with the same identity then finishes the release at once:
// its first write of the record comes well under a second after it
// starts, though the dead driver's 30s lease is live. One with another
// identity, after a kill right after the switch, waits until the dead
// driver's 5s lease lapses, and no more than a few seconds longer. Each
// time the end state (both slots, both Services' selectors, the record and
// its history) equals that of a release that never crashed, no request is
// pending, and an independent watch of the active Service's EndpointSlices
// never saw fewer than three ready endpoints.
func TestKilledDriverIsResumed(t *testing.T) {
	t.Parallel()
	began := time.Now()
	// A release that never crashed, in a process of its own too.
	e := crashEnv(t)
	kc := e.kubeconfig()
	p := e.eps.Begin()
	d := e.startDriver(kc, driverArgs{Profile: "every-step", Revision: "v2", Identity: "driver-1"})
	var calm driverResult
	require.NoError(t, d.Result(e.ctx, &calm))
	require.Empty(t, calm.Err)
	require.Equal(t, strategy.PhaseSucceeded, calm.Phase)
	want := e.settled(bluegreen.Green)
	p.Check(t, "a release that never crashed", replicas)
	n := len(calm.Writes)
	switchAt := 0
	for i, w := range calm.Writes {
		t.Logf("write %2d: %s", i+1, w)
		if switchAt == 0 && w.Resource == "services" && w.Name == appName {
			switchAt = i + 1
		}
	}
	require.NotZero(t, switchAt, "the release switched the active Service")
	t.Logf("a release makes %d writes; end state %+v", n, want)

	type figure struct {
		k        int
		write    string
		wait     time.Duration
		took     time.Duration
		minReady int
	}
	var mu sync.Mutex
	var figures []figure
	fewest := replicas // the fewest ready endpoints any trial saw
	check := func(t *testing.T, p e2ekit.Period, name string) int {
		low := p.Check(t, name, replicas)
		mu.Lock()
		fewest = min(fewest, low)
		mu.Unlock()
		return low
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, trialsAtOnce)
	trial := func(name string, f func(t *testing.T)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(name, f)
		}()
	}
	for k := 1; k <= n; k++ {
		trial(fmt.Sprintf("same identity after write %d", k), func(t *testing.T) {
			e := crashEnv(t)
			kc := e.kubeconfig()
			p := e.eps.Begin()
			dead := e.killAfter(kc, k)
			last := dead.writes[len(dead.writes)-1]
			t.Logf("killed after write %d (%s) at step %q, phase %s", k, last, dead.status.StepName, dead.status.Phase)
			require.Len(t, dead.writes, k)

			start, first, took := e.resume("driver-1", 0)
			wait := took // a release that had ended: Run reads the record and writes nothing
			if !first.IsZero() {
				wait = first.Sub(start)
			}
			assert.Less(t, wait, time.Second, "the same identity takes the lease over at once")
			assert.Equal(t, want, e.settled(bluegreen.Green), "the end state of a release that never crashed")
			low := check(t, p, fmt.Sprintf("killed after write %d, resumed", k))
			mu.Lock()
			figures = append(figures, figure{k, last.Verb + " " + last.Resource + "/" + last.Name, wait, took, low})
			mu.Unlock()
		})
	}
	trial("other identity after the switch", func(t *testing.T) {
		const lease = 5 * time.Second
		e := crashEnv(t)
		kc := e.kubeconfig()
		p := e.eps.Begin()
		// Lease renewals (every third of the lease) may come among the
		// writes: stop at the switch itself.
		dead := e.kill(kc, driverArgs{Profile: "every-step", Revision: "v2", Identity: "driver-1", Lease: lease,
			StopAt: &e2ekit.WriteMatch{Resource: "services", Name: appName, Nth: 1}})
		last := dead.writes[len(dead.writes)-1]
		require.Equal(t, "driver-1", dead.status.Lease.Holder)
		lapse := dead.status.Lease.Expires()
		t.Logf("killed after write %d (%s) at step %q; its lease lapses %s after the kill",
			len(dead.writes), last, dead.status.StepName, lapse.Sub(dead.at).Round(time.Millisecond))

		start, first, took := e.resume("driver-2", lease)
		require.False(t, first.IsZero(), "driver-2 wrote the record")
		require.True(t, start.Before(lapse), "driver-2 started while the lease was live")
		assert.False(t, first.Before(lapse), "driver-2 took over only once the lease lapsed")
		assert.Less(t, first.Sub(lapse), 3*time.Second, "driver-2 took over within a few seconds of the lapse")
		t.Logf("driver-2 waited %s for the lease (its first write %s after the lapse); Run took %s",
			first.Sub(start).Round(time.Millisecond), first.Sub(lapse).Round(time.Millisecond), took.Round(time.Millisecond))
		assert.Equal(t, want, e.settled(bluegreen.Green), "the end state of a release that never crashed")
		assert.Contains(t, strings.Join(e.eventMessages(string(strategy.EventTakenOver)), "\n"), "lease taken over from driver-1",
			"the takeover is reported as an Event")
		check(t, p, "killed after the switch, taken over by driver-2")
	})
	// An operator aborts while the driver is dead, before the switch, right
	// after the Service's selector moved (the record does not say so yet)
	// and once the record says so: the next driver finds the request and
	// sends traffic back to v1.
	for _, k := range []int{switchAt - 2, switchAt, switchAt + 1} {
		trial(fmt.Sprintf("abort while dead after write %d", k), func(t *testing.T) {
			e := crashEnv(t)
			kc := e.kubeconfig()
			blueGen := e.slotGeneration(bluegreen.Blue)
			p := e.eps.Begin()
			dead := e.killAfter(kc, k)
			t.Logf("killed after write %d (%s) at step %q", k, dead.writes[len(dead.writes)-1], dead.status.StepName)
			o := e.controlFromProcess(kc, strategy.ActionAbort, "")
			require.Empty(t, o.Err, "the abort is accepted while no driver runs")

			_, _, _, res, err := e.resumeRun("every-step", "driver-1", 0)
			require.ErrorIs(t, err, strategy.ErrAborted)
			require.NotNil(t, res)
			assert.Equal(t, strategy.PhaseAborted, res.Phase)
			assert.Contains(t, res.Message, "aborted by operator-process")
			assert.Equal(t, settled{State: endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 0, 0, 0}, Active: "blue",
				Preview: "green", Phase: strategy.PhaseAborted, Revision: "v2", Stable: "v1"},
				History: []string{"v1 Succeeded", "v2 Aborted"}}, e.settled(bluegreen.Blue))
			assert.Equal(t, blueGen, e.slotGeneration(bluegreen.Blue), "v1's slot was never changed")
			check(t, p, fmt.Sprintf("killed after write %d, aborted, resumed", k))
		})
	}
	wg.Wait()

	slices.SortFunc(figures, func(a, b figure) int { return a.k - b.k })
	var worst time.Duration
	for _, f := range figures {
		t.Logf("killed after write %2d %-38s resumed: first record write (or end) after %7s, Run %7s, min ready endpoints %d",
			f.k, f.write, f.wait.Round(100*time.Microsecond), f.took.Round(time.Millisecond), f.minReady)
		worst = max(worst, f.wait)
	}
	t.Logf("%d kill trials resumed by the same identity, 1 by another, 3 aborted while dead, in %s: "+
		"the same identity waited at most %s for the lease; fewest ready endpoints any trial saw: %d",
		len(figures), time.Since(began).Round(time.Millisecond), worst.Round(100*time.Microsecond), fewest)
}

package e2e

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

const (
	// longCheck is the post-promotion check of the "long-check" profile,
	// four times shortLease.
	longCheck = 24 * time.Second
	// shortLease is the lease of the tests where leases lapse.
	shortLease = 6 * time.Second
)

// TestSecondDriverWaitsOutALongCheck runs a release whose post-promotion
// check lasts four leases (24s against a 6s lease) in the test's process
// (driver-a), and starts the same release in another process (driver-b)
// while the check runs. driver-a renews its lease on its own schedule
// throughout the check, so driver-b never takes over: no version of the
// record, as an independent watch sees them, is written under driver-b's
// lease while the release is in flight, and driver-b writes nothing but
// the record once the release has ended. driver-a finishes Succeeded with
// the check run once; driver-b returns the recorded result.
func TestSecondDriverWaitsOutALongCheck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	kc := e.kubeconfig()
	lease := strategy.WithLeaseDuration(shortLease)
	e.run(e.strategy(baseSpec(), strategy.WithIdentity("driver-a"), lease), "v1")
	e.servesOnly(bluegreen.Blue)
	records := e2ekit.WatchRecord(t, e.ctx, e.kube, e.app)
	from := records.Mark()

	var runs atomic.Int32
	spec := profiles["long-check"](&runs)
	inCheck := newMoment()
	obs := strategy.WithObserver(func(ev strategy.Event) {
		if ev.Type == strategy.EventStepStarted && ev.StepName == "post-promotion" {
			inCheck.reach()
		}
	})
	p := e.eps.Begin()
	start := time.Now()
	done := e.start(e.strategy(spec, strategy.WithIdentity("driver-a"), lease, obs), "v2")
	e.wait(inCheck, "the post-promotion check", done)
	checkAt := time.Now()
	b := e.startDriver(kc, driverArgs{Profile: "long-check", Revision: "v2", Identity: "driver-b", Lease: shortLease})
	_, err := b.Next(e.ctx, "started")
	require.NoError(t, err)
	bStarted := time.Now()

	o := e.await(done)
	require.NoError(t, o.Err, "driver-a kept its lease through the check")
	assert.Equal(t, strategy.PhaseSucceeded, o.Res.Phase)
	aDone := time.Now()
	assert.GreaterOrEqual(t, aDone.Sub(checkAt), longCheck, "the check ran its full length")
	var br driverResult
	require.NoError(t, b.Result(e.ctx, &br))
	require.Empty(t, br.Err, "driver-b returns the recorded result")
	assert.Equal(t, strategy.PhaseSucceeded, br.Phase)
	assert.Zero(t, br.CheckRuns, "driver-b ran no check")
	assert.EqualValues(t, 1, runs.Load(), "the check ran once")
	for _, w := range br.Writes {
		assert.True(t, w.IsRecord(appName), "driver-b wrote only the record: %s", w)
	}
	t.Logf("driver-b started %s into the check, waited %s and returned after %s with %d writes of the record",
		bStarted.Sub(checkAt).Round(time.Millisecond), br.Took.Round(time.Millisecond), time.Since(bStarted).Round(time.Millisecond), len(br.Writes))

	require.NoError(t, records.Err())
	var renewals []time.Time
	for _, v := range records.Since(from) {
		r := v.Record
		if r.Lease.Holder == "driver-b" && !r.Phase.Terminal() {
			t.Errorf("driver-b wrote the record of the release in flight: %s", v)
		}
		if r.Revision == "v2" && !r.Phase.Terminal() {
			assert.Equal(t, "driver-a", r.Lease.Holder, "the release in flight is driver-a's: %s", v)
			if v.At.After(checkAt) && v.At.Before(aDone) {
				renewals = append(renewals, r.Lease.Renewed)
			}
		}
	}
	var gap time.Duration
	for i := 1; i < len(renewals); i++ {
		gap = max(gap, renewals[i].Sub(renewals[i-1]))
	}
	t.Logf("driver-a wrote the record %d times during the %s check, renewals at most %s apart (lease %s); Run took %s",
		len(renewals), longCheck, gap.Round(time.Millisecond), shortLease, aDone.Sub(start).Round(time.Millisecond))
	assert.GreaterOrEqual(t, len(renewals), int(longCheck/shortLease), "the lease was renewed throughout the check")
	assert.Less(t, gap, shortLease, "the lease never came near lapsing")

	e.servesOnly(bluegreen.Green)
	got := e.observe()
	p.Check(t, "v2 with a second driver waiting", replicas)
	assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 3, 3, 3}, Active: "green", Preview: "green",
		Phase: strategy.PhaseSucceeded, Revision: "v2", Stable: "v2"}, got)
	e.recordSettled()
}

package bluegreen_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// TestWarmRunListsAndWatchesNothing: with watches shared across Runs, a
// release after the first makes no list and opens no watch, and reads
// the Services and the namespace from them; Close ends every goroutine.
func TestWarmRunListsAndWatchesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithObjects(namespaceAndService()...))
	defer c.Stop()
	w := strategy.NewWatches(c.Clients(), strategy.WithClock(c.Clock()))
	defer w.Close()
	s := bluegreen.New(c.Clients(), baseSpec(), strategy.WithClock(c.Clock()), strategy.WithIdentity("warm"), strategy.WithWatches(w))
	for _, rev := range []string{"v1", "v2"} {
		res, err := s.Run(ctx, release(rev))
		require.NoError(t, err)
		require.Equal(t, strategy.PhaseSucceeded, res.Phase)
	}
	c.ResetRequests()
	res, err := s.Run(ctx, release("v3"))
	require.NoError(t, err)
	require.Equal(t, strategy.PhaseSucceeded, res.Phase)
	reqs := c.Requests()
	t.Logf("requests of a warm release: %s", reqs)
	assert.Zero(t, reqs.Count("list", "*"), "no list on a warm Run: %s", reqs)
	assert.Zero(t, reqs.Count("watch", "*"), "no watch on a warm Run: %s", reqs)
	assert.Zero(t, reqs.Count("get", "services")+reqs.Count("get", "namespaces"), "the checks before the first write read the caches: %s", reqs)
}

// TestFirstReleaseWritesEachServiceOnce: the apply that creates the
// preview Service already selects the new slot, and the Run reads its own
// write: no second write points it there again. A first release writes
// Services three times: the active one pointed at the empty slot, the
// preview one created, and the switch.
func TestFirstReleaseWritesEachServiceOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithObjects(namespaceAndService()...))
	defer c.Stop()
	s := bluegreen.New(c.Clients(), baseSpec(), strategy.WithClock(c.Clock()), strategy.WithIdentity("first"))
	res, err := s.Run(ctx, release("v1"))
	require.NoError(t, err)
	require.Equal(t, strategy.PhaseSucceeded, res.Phase)
	reqs := c.Requests()
	assert.Equal(t, 3, reqs.Count("patch", "services")+reqs.Count("update", "services")+reqs.Count("create", "services"), reqs.String())
}

// TestWatchesOfOtherClientsAreRefused: Watches made for another cluster's
// clients, or with another clock, are bad input: a typed error, nothing
// written.
func TestWatchesOfOtherClientsAreRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := fake.NewCluster(fake.WithAutoAdvance(), fake.WithObjects(namespaceAndService()...))
	defer c.Stop()
	other := fake.NewCluster()
	defer other.Stop()
	for name, w := range map[string]*strategy.Watches{
		"other clients": strategy.NewWatches(other.Clients(), strategy.WithClock(c.Clock())),
		"other clock":   strategy.NewWatches(c.Clients(), strategy.WithClock(other.Clock())),
	} {
		c.ResetRequests()
		s := bluegreen.New(c.Clients(), baseSpec(), strategy.WithClock(c.Clock()), strategy.WithWatches(w))
		_, err := s.Run(ctx, release("v1"))
		var verr *strategy.ValidationError
		require.ErrorAs(t, err, &verr, name)
		assert.Contains(t, err.Error(), "options.watches", name)
		reqs := c.Requests()
		assert.Zero(t, reqs.Count("create", "*")+reqs.Count("update", "*")+reqs.Count("patch", "*"), "%s: nothing written: %s", name, reqs)
		w.Close()
	}
}

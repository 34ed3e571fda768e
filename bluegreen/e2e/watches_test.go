package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// TestSharedWatches runs releases through one strategy.Watches, as a
// long-running deploy service does, on the real control plane: after the
// first, a release makes no list and opens no watch, traffic moves with
// the active Service never below full size (as an independent watcher of
// its EndpointSlices sees it), and Close ends the watches.
func TestSharedWatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	counter := e2ekit.NewRequestCounter()
	clients, err := strategy.NewClients(counter.Wrap(e.cfg))
	require.NoError(t, err)
	watches := strategy.NewWatches(clients)
	defer watches.Close()
	s := bluegreen.New(clients, baseSpec(), strategy.WithIdentity("shared"), strategy.WithWatches(watches))

	_, err = s.Run(e.ctx, e.release("v1"))
	require.NoError(t, err)
	e.servesOnly(bluegreen.Blue)
	for _, tc := range []struct{ rev, slot string }{{"v2", bluegreen.Green}, {"v3", bluegreen.Blue}} {
		counter.Snapshot()
		p := e.eps.Begin()
		res, err := s.Run(e.ctx, e.release(tc.rev))
		require.NoError(t, err, tc.rev)
		require.Equal(t, strategy.PhaseSucceeded, res.Phase)
		byVerb, byVerbRes, total := counter.Snapshot()
		t.Logf("%s: %d requests: %v", tc.rev, total, byVerbRes)
		assert.Zero(t, byVerb["list"], "%s lists nothing: %v", tc.rev, byVerbRes)
		assert.Zero(t, byVerb["watch"], "%s opens no watch: %v", tc.rev, byVerbRes)
		e.servesOnly(tc.slot)
		p.Check(t, "release "+tc.rev+" on shared watches", replicas)
	}
}

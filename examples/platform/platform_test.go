package platform_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/examples/platform"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// The team's apps: two by blue/green, two by canary, two of them released
// only with a person's approval.
var apps = []platform.App{
	{Name: "api", Namespace: "default"},
	{Name: "admin", Namespace: "default", Approval: true},
	{Name: "web", Namespace: "default", MaxErrorRatio: 0.05},
	{Name: "store", Namespace: "default", MaxErrorRatio: 0.05, Approval: true},
}

// decision is what a person does with a release that waits for them.
type decision = func(d *platform.Deployer, ctx context.Context, app string) error

type env struct {
	ctx     context.Context
	c       *fake.Cluster
	d       *platform.Deployer
	retries atomic.Int32 // transient API errors retried
}

// installed returns a fake cluster on which v1 of app was shipped (and
// approved, if it needed to be). Each later release that pauses is decided
// by v2 from another goroutine, as a person in a chat would.
func installed(t *testing.T, app string, v2 decision) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	c := fake.NewCluster(fake.WithAutoAdvance())
	t.Cleanup(func() { cancel(); c.Stop() })
	stop := c.SendLoad(fake.Entry{Kind: fake.EntryService, Namespace: "default", Name: app}, 100, fake.Request{})
	t.Cleanup(stop)
	e := &env{ctx: ctx, c: c}
	var decided sync.WaitGroup
	t.Cleanup(decided.Wait)
	paused := func(app, revision string) {
		decide := v2
		if revision == "v1" {
			decide = (*platform.Deployer).Promote
		}
		decided.Go(func() { assert.NoError(t, decide(e.d, ctx, app), "deciding %s %s", app, revision) })
	}
	countRetries := strategy.WithObserver(func(ev strategy.Event) {
		if ev.Type == strategy.EventRetrying {
			e.retries.Add(1)
		}
	})
	e.d = platform.New(c.Clients(), platform.Config{Apps: apps, Metrics: fakeMetrics(c), Paused: paused}, strategy.WithClock(c.Clock()), countRetries)
	_, err := e.d.Ship(ctx, app, "v1", app+":v1")
	require.NoError(t, err)
	return e
}

// fakeMetrics answers ErrorRatioQuery from the fake cluster's traffic
// model, over the last 30 seconds.
func fakeMetrics(c *fake.Cluster) analysis.Provider {
	return analysis.Func(func(_ context.Context, q analysis.Query) (analysis.Result, error) {
		ratio, ok := c.Metrics().ErrorRatio(q.Vars.Revision, 30*time.Second)
		return analysis.Result{Value: ratio, NoData: !ok}, nil
	})
}

// served returns the share of app's requests each revision serves.
func (e *env) served(t *testing.T, app string) map[string]float64 {
	t.Helper()
	share, err := e.c.Traffic(e.ctx, fake.Entry{Kind: fake.EntryService, Namespace: "default", Name: app}, fake.Request{})
	require.NoError(t, err)
	return share.Serve
}

func TestShipGoodVersion(t *testing.T) {
	for _, tc := range []struct{ app, strategy string }{{"api", "bluegreen"}, {"web", "canary"}} {
		t.Run(tc.app, func(t *testing.T) {
			t.Parallel()
			e := installed(t, tc.app, nil)
			res, err := e.d.Ship(e.ctx, tc.app, "v2", tc.app+":v2")
			require.NoError(t, err)
			assert.Equal(t, tc.strategy, res.Strategy)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			assert.Equal(t, map[string]float64{"v2": 1}, e.served(t, tc.app))
		})
	}
}

func TestBadVersionIsRolledBackByAnalysis(t *testing.T) {
	e := installed(t, "web", nil)
	e.c.SetBehavior("v2", fake.Behavior{ErrorRate: 0.2})
	res, err := e.d.Ship(e.ctx, "web", "v2", "web:v2")
	require.ErrorIs(t, err, strategy.ErrAnalysisFailed)
	assert.ErrorContains(t, err, "result 0.2 not <= 0.05")
	assert.Equal(t, strategy.PhaseAborted, res.Phase)
	assert.Equal(t, "v1", res.Stable)
	assert.Equal(t, map[string]float64{"v1": 1}, e.served(t, "web"))
}

func TestPromoteFromAnotherGoroutine(t *testing.T) {
	for _, app := range []string{"admin", "store"} { // blue/green, canary
		t.Run(app, func(t *testing.T) {
			t.Parallel()
			e := installed(t, app, (*platform.Deployer).Promote)
			res, err := e.d.Ship(e.ctx, app, "v2", app+":v2")
			require.NoError(t, err)
			assert.Equal(t, strategy.PhaseSucceeded, res.Phase)
			assert.Equal(t, map[string]float64{"v2": 1}, e.served(t, app))
		})
	}
}

func TestAbortFromAnotherGoroutine(t *testing.T) {
	for _, app := range []string{"admin", "store"} { // blue/green, canary
		t.Run(app, func(t *testing.T) {
			t.Parallel()
			e := installed(t, app, (*platform.Deployer).Abort)
			res, err := e.d.Ship(e.ctx, app, "v2", app+":v2")
			require.ErrorIs(t, err, strategy.ErrAborted)
			assert.Equal(t, strategy.PhaseAborted, res.Phase)
			assert.Equal(t, map[string]float64{"v1": 1}, e.served(t, app))
		})
	}
}

func TestTransientAPIErrorsAreRetried(t *testing.T) {
	unavailable := apierrors.NewServiceUnavailable("apiserver restarting")
	for _, app := range []string{"api", "web"} {
		t.Run(app, func(t *testing.T) {
			t.Parallel()
			e := installed(t, app, nil)
			e.c.FailRequests("patch", "deployments", unavailable, 2)
			e.c.FailRequests("update", "configmaps", unavailable, 2)
			res, err := e.d.Ship(e.ctx, app, "v2", app+":v2")
			require.NoError(t, err)
			assert.Equal(t, "v2", res.Stable)
			assert.Equal(t, map[string]float64{"v2": 1}, e.served(t, app))
			assert.EqualValues(t, 4, e.retries.Load(), "each failed request was retried")
		})
	}
}

func TestForbiddenFailsAtOnceAndResumesOnceAllowed(t *testing.T) {
	e := installed(t, "api", nil)
	deployments := schema.GroupResource{Group: "apps", Resource: "deployments"}
	e.c.FailRequests("patch", "deployments", apierrors.NewForbidden(deployments, "api-green", errors.New(`user "deployer" may not patch`)), 0)
	e.c.ResetRequests()
	_, err := e.d.Ship(e.ctx, "api", "v2", "api:v2")
	require.True(t, apierrors.IsForbidden(err), "got %v", err)
	assert.ErrorContains(t, err, `shipping api v2: applying deployments default/api-green: deployments.apps "api-green" is forbidden`)
	assert.Equal(t, 1, e.c.Requests().Count("patch", "deployments"), "a forbidden write is not retried")
	assert.Equal(t, map[string]float64{"v1": 1}, e.served(t, "api"))

	e.c.ClearFaults() // the team fixes the Role and ships again
	res, err := e.d.Ship(e.ctx, "api", "v2", "api:v2")
	require.NoError(t, err)
	assert.Equal(t, "v2", res.Stable)
}

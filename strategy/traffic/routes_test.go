package traffic_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

func TestHeaderRoutes(t *testing.T) {
	eachRouter(t, func(t *testing.T, tc routerCase, e *env, r traffic.Router, entry fake.Entry) {
		hr, ok := r.(traffic.HeaderRouter)
		if !tc.headers {
			require.False(t, ok)
			return
		}
		ctx := e.ctx
		require.NoError(t, r.SetWeight(ctx, 25))
		require.NoError(t, hr.SetHeaderRoute(ctx, "beta", []traffic.HeaderMatch{{Name: "X-Canary", Value: "yes"}}))
		e.assertSplit(entry, map[string]string{"X-Canary": "yes"}, 100, "with the header")
		e.assertSplit(entry, map[string]string{"x-canary": "yes"}, 100, "header names are case-insensitive")
		e.assertSplit(entry, map[string]string{"X-Canary": "no"}, 25, "another value")
		e.assertSplit(entry, nil, 25, "without the header")
		got, err := r.Weight(ctx)
		require.NoError(t, err)
		assert.Equal(t, int32(25), got, "a header route is not a weight")

		require.NoError(t, r.SetWeight(ctx, 75), "weights move with a header route in place")
		e.assertSplit(entry, map[string]string{"X-Canary": "yes"}, 100, "with the header, after SetWeight")
		e.assertSplit(entry, nil, 75, "without the header, after SetWeight")

		// Setting the same name replaces the route.
		require.NoError(t, hr.SetHeaderRoute(ctx, "beta", []traffic.HeaderMatch{{Name: "X-User", Value: "test-", Type: traffic.HeaderPrefix}}))
		e.assertSplit(entry, map[string]string{"X-User": "test-42"}, 100, "prefix")
		e.assertSplit(entry, map[string]string{"X-User": "prod-test-42"}, 75, "not a prefix")
		e.assertSplit(entry, map[string]string{"X-Canary": "yes"}, 75, "the replaced route")

		require.NoError(t, hr.SetHeaderRoute(ctx, "beta", []traffic.HeaderMatch{{Name: "X-User", Value: "a+b", Type: traffic.HeaderRegularExpression}}))
		e.assertSplit(entry, map[string]string{"X-User": "aab"}, 100, "regular expression")
		e.assertSplit(entry, map[string]string{"X-User": "xaab"}, 75, "a regular expression matches the whole value")

		if tc.maxHeaders == 0 {
			two := []traffic.HeaderMatch{{Name: "X-A", Value: "1"}, {Name: "X-B", Value: "2"}}
			require.NoError(t, hr.SetHeaderRoute(ctx, "both", two))
			e.assertSplit(entry, map[string]string{"X-A": "1", "X-B": "2"}, 100, "all headers")
			e.assertSplit(entry, map[string]string{"X-A": "1"}, 75, "one header of two")
			e.assertSplit(entry, map[string]string{"X-User": "aab"}, 100, "a second name keeps the first route")
		} else {
			requireInvalid(t, hr.SetHeaderRoute(ctx, "both", []traffic.HeaderMatch{{Name: "X-A", Value: "1"}, {Name: "X-B", Value: "2"}}), "headerRoute.matches")
		}

		e.c.ResetRequests()
		requireInvalid(t, hr.SetHeaderRoute(ctx, "Not A Label", []traffic.HeaderMatch{{Name: "X-A", Value: "1"}}), "headerRoute.name")
		requireInvalid(t, hr.SetHeaderRoute(ctx, "empty", nil), "headerRoute.matches")
		requireInvalid(t, hr.SetHeaderRoute(ctx, "suffix", []traffic.HeaderMatch{{Name: "X-A", Value: "1", Type: "Suffix"}}), "headerRoute.matches[0].type")
		requireInvalid(t, hr.SetHeaderRoute(ctx, "regexp", []traffic.HeaderMatch{{Name: "X-A", Value: "(", Type: traffic.HeaderRegularExpression}}), "headerRoute.matches[0].value")
		requireInvalid(t, hr.SetHeaderRoute(ctx, "novalue", []traffic.HeaderMatch{{Name: "X-A"}}), "headerRoute.matches[0].value")
		assert.Zero(t, e.c.Requests().Total(), "rejected before any request")

		require.NoError(t, hr.RemoveHeaderRoutes(ctx))
		e.assertSplit(entry, map[string]string{"X-User": "aab"}, 75, "after RemoveHeaderRoutes")
		e.assertSplit(entry, map[string]string{"X-A": "1", "X-B": "2"}, 75, "after RemoveHeaderRoutes")
		got, err = r.Weight(ctx)
		require.NoError(t, err)
		assert.Equal(t, int32(75), got)
		require.NoError(t, r.Validate(ctx), "the objects are as valid as before")
	})
}

func TestHeaderRouteBeforeAnyWeight(t *testing.T) {
	eachRouter(t, func(t *testing.T, tc routerCase, e *env, r traffic.Router, entry fake.Entry) {
		hr, ok := r.(traffic.HeaderRouter)
		if !ok {
			return
		}
		require.NoError(t, hr.SetHeaderRoute(e.ctx, "beta", []traffic.HeaderMatch{{Name: "X-Canary", Value: "yes"}}))
		e.assertSplit(entry, map[string]string{"X-Canary": "yes"}, 100, "with the header")
		e.assertSplit(entry, nil, 0, "without it")
	})
}

func TestMirror(t *testing.T) {
	eachRouter(t, func(t *testing.T, tc routerCase, e *env, r traffic.Router, entry fake.Entry) {
		mr, ok := r.(traffic.MirrorRouter)
		if !tc.mirror {
			require.False(t, ok)
			return
		}
		ctx := e.ctx
		require.NoError(t, r.SetWeight(ctx, 10))
		require.NoError(t, mr.SetMirror(ctx, "shadow", 30))
		s := e.share(entry, nil)
		assert.InDelta(t, 0.3, s.Mirror["v2"], 0.01, "mirrored copies: %v", s.Mirror)
		assert.Zero(t, s.Mirror["v1"])
		e.assertSplit(entry, nil, 10, "a mirror does not move requests")

		require.NoError(t, mr.SetMirror(ctx, "shadow-2", 50), "a new mirror replaces the old")
		assert.InDelta(t, 0.5, e.share(entry, nil).Mirror["v2"], 0.01)
		require.NoError(t, r.SetWeight(ctx, 25))
		assert.InDelta(t, 0.5, e.share(entry, nil).Mirror["v2"], 0.01, "SetWeight keeps the mirror")
		got, err := r.Weight(ctx)
		require.NoError(t, err)
		assert.Equal(t, int32(25), got)

		requireInvalid(t, mr.SetMirror(ctx, "shadow", 101), "mirror.percent")
		requireInvalid(t, mr.SetMirror(ctx, "", 10), "mirror.name")

		require.NoError(t, mr.RemoveMirrors(ctx))
		assert.Zero(t, e.share(entry, nil).Mirror["v2"], "after RemoveMirrors")
		e.assertSplit(entry, nil, 25, "after RemoveMirrors")
		require.NoError(t, mr.RemoveMirrors(ctx), "removing nothing is fine")
	})
}

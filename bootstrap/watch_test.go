package bootstrap_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/switchyard-dev/switchyard/bootstrap"
	"github.com/switchyard-dev/switchyard/strategy"
)

// TestForbiddenWatchFailsTheRunAtOnce: without "watch" on a kind of the
// bundle, objects used to wait unseen until their timeout and then blame
// it; the run now ends with the watch's error.
func TestForbiddenWatchFailsTheRunAtOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.FailRequests("watch", "deployments", apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "", errors.New("no watch")), 0)
	s := bootstrap.New(c.Clients(), bootstrap.Spec{}, strategy.WithClock(c.Clock()))
	start := c.Clock().Now()
	_, err := s.Apply(testCtx(t), strategy.Release{App: smallApp, Revision: "v1", Objects: small(t)})
	var we *strategy.WatchError
	require.ErrorAs(t, err, &we)
	assert.True(t, apierrors.IsForbidden(err), "%v", err)
	assert.Less(t, c.Clock().Now().Sub(start), 30*time.Second, "long before any object's timeout")
	finished(t, c, smallApp, strategy.PhaseFailed)
}

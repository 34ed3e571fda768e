// Package fakemetrics turns the metrics of a fake cluster's load
// (fake.Cluster.SendLoad, fake.Metrics) into analysis providers, so that a
// test judges a release on the fake with the same analysis.Analysis it
// would run against Prometheus:
//
//	Provider: fakemetrics.ErrorRatio(cluster, 20*time.Second)
//
// Each provider measures the version its query names (the metric's
// Query, such as "{{.Revision}}", rendered), or the release's revision
// when the query is empty. A window without requests or samples is no
// data. It lives apart from package fake so that fake does not depend on
// analysis.
package fakemetrics

import (
	"context"
	"time"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/fake"
)

// ErrorRatio measures errors/requests of a version over the last window
// of fake time.
func ErrorRatio(c *fake.Cluster, window time.Duration) analysis.Func {
	return func(_ context.Context, q analysis.Query) (analysis.Result, error) {
		ratio, ok := c.Metrics().ErrorRatio(version(q), window)
		return analysis.Result{Value: ratio, NoData: !ok}, nil
	}
}

// LatencyQuantile measures the quantile (0..1) of a version's latency,
// in seconds, over the last window of fake time.
func LatencyQuantile(c *fake.Cluster, quantile float64, window time.Duration) analysis.Func {
	return func(_ context.Context, q analysis.Query) (analysis.Result, error) {
		d, ok := c.Metrics().LatencyQuantile(version(q), quantile, window)
		return analysis.Result{Value: d.Seconds(), NoData: !ok}, nil
	}
}

// version is what a query measures.
func version(q analysis.Query) string {
	if q.Text != "" {
		return q.Text
	}
	return q.Vars.Revision
}

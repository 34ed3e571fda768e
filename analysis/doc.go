// Package analysis will judge a new version from measurements: metric
// providers (Prometheus, web, Kubernetes Job and pod health, Go functions),
// success and failure conditions with limits, and phases that blue/green and
// canary releases act on.
//
// What exists so far is its statistics, in analysis/judge: Mann-Whitney U
// with a Hodges-Lehmann effect and configurable confidence, tolerance,
// direction, NaN strategy and outlier removal; a two-proportion test for
// error ratios; a sequential probability ratio test for early stopping; and
// a Kayenta-style weighted group score. The providers, metrics and their
// wiring into the strategies are not implemented yet.
package analysis

// Package analysis will judge a new version from measurements: metric
// providers (Prometheus, web, Kubernetes Job and pod health, Go functions),
// success and failure conditions with limits, and statistical judges that
// compare a canary with its baseline.
//
// Not implemented yet: the package holds only this description.
package analysis

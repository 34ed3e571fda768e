// Package e2e judges canary releases on a real control plane with a real
// Prometheus: an exporter on loopback serves per-version request and error
// counters at error rates the tests set, Prometheus scrapes it every
// second, and the canary's analysis asks Prometheus for the new version's
// error ratio in PromQL. A bad revision is caught and rolled back; a good
// one passes. A metric measured by a Kubernetes Job runs on the real Job
// controller (kwok completes its pod) and the Job is deleted afterwards.
// The tests skip under -short.
package e2e

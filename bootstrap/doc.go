// Package bootstrap will perform the Day 1 install of a cluster's workloads:
// a bundle of manifests applied as a dependency graph with server-side apply,
// each object waited until ready, pruned by inventory, and idempotent, so
// that a second run changes nothing.
//
// Not implemented yet: the package holds only this description.
package bootstrap

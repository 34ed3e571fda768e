// Package traffic moves an app's traffic between its two slots. It holds
// the routers that blue/green and canary releases share; ServiceSelector,
// the one blue/green uses, points a Service at one slot with a single write
// of its selector.
package traffic

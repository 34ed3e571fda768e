// Package canary will move traffic to a new version in weighted steps (for
// example 2%, 25%, 75%, 100%), judge each step with analysis, and send all
// traffic back to the stable version on its own when a step fails. It shares
// the two-slot model of package bluegreen and the routers of
// strategy/traffic.
//
// Not implemented yet: the package holds only this description.
package canary

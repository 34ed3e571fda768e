// Package canary will move traffic to a new version in weighted steps (for
// example 2%, 25%, 75%, 100%), judge each step with checks and analysis, and
// send all traffic back to the stable version on its own when a step fails.
// It shares the two-slot model of package bluegreen and the routers of
// strategy/traffic.
//
// What exists so far are its building blocks:
//
//   - the steps (SetWeight, Pause, Analysis, SetCanaryScale, SetHeaderRoute,
//     SetMirrorRoute, Custom), the schedules Steps, Linear and TwoStep with
//     the AWS CodeDeploy names (Canary10Percent5Minutes,
//     Linear10PercentEvery1Minute, AllAtOnce), and ValidateSteps;
//   - ReplicaSplit, the slot sizes of ReplicaRatio routing (no mesh: one
//     Service selects both slots), whose served share stays within one
//     pod's share of the weight.
//
// The canary Strategy itself is not implemented yet.
package canary

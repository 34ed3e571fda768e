// Package traffic moves an app's traffic between its two slots. It holds
// the routers that blue/green and canary releases share; ServiceSelector,
// the one blue/green uses, points a Service at one slot with a single write
// of its selector.
//
// # Weighted routers
//
// A canary release splits traffic between a stable Service and a canary
// Service, each selecting one slot, through a Router:
//
//   - GatewayHTTPRoute: backendRef weights of a Gateway API HTTPRoute
//     (typed values from sigs.k8s.io/gateway-api, written through the
//     dynamic client); header routes; mirroring.
//   - IstioVirtualService: destination weights of an Istio VirtualService;
//     header routes; mirroring.
//   - SMITrafficSplit: backend weights of an SMI TrafficSplit.
//   - NGINXIngress: a canary Ingress with ingress-nginx canary
//     annotations; header routes.
//
// Weights are whole percents, 0 to 100, written exactly: the stable
// backend gets 100-percent and the canary percent. Supports tells a
// strategy whether a router also does header routes (HeaderRouter) and
// mirroring (MirrorRouter), so that it can reject a step at validation
// time. Validate checks, before any write, that the objects exist and
// reference both Services; SetWeight reads its write back and returns an
// error wrapping ErrWeightNotTaken when the objects do not carry the weight.
// Routers keep no state between calls: they read what they write, retry at
// once on 409 Conflict, and leave other transient errors to the caller's
// retry (strategy.Retry). ValidateHeaderRoute and ValidateMirror check the
// arguments of header routes and mirrors (names, header names, regular
// expressions, percents) as the routers do, so that a strategy rejects a
// bad step at validation, not when it runs.
//
// # Namespaces
//
// A router writes in the namespace of its object (and reads its Services
// there). CheckNamespace, which a canary release calls before its first
// write, refuses a router whose namespace is not the app's unless it was
// built with the AllowCrossNamespace option (or its AllowCrossNamespace
// field set), so that writing elsewhere is visible in the caller's code.
package traffic

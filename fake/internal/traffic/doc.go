// Package traffic is the traffic model and fake metrics source behind the
// in-memory cluster in package fake.
//
// [Model.Route] answers "which version serves what share of the requests sent
// to this entry point?" by reading the objects a real data plane reads: a
// Service's EndpointSlices and Pods, Gateway API HTTPRoutes, Istio
// VirtualServices (and DestinationRule subsets), SMI TrafficSplits and NGINX
// Ingress canary annotations. Shares are expected values, not random draws,
// so tests can compare them exactly.
//
// [Meter] turns those shares into the numbers a metrics provider would
// report: request and error counters and latency samples per version, kept in
// ring buffers of fake time so memory stays bounded.
//
// # Time
//
// Nothing here reads the wall clock. Callers pass the time of every
// recording and query, normally from the fake cluster's clock.
//
// # Failed requests
//
// A share of requests that no version serves (the chosen backend has no
// ready endpoints, no route matches, every weight is zero) is reported in
// [Result.Unserved] and is missing from [Result.Serve]; real proxies answer
// those requests with 5xx. [Meter.Record] books that remainder under
// [UnservedVersion] as failed requests.
//
// # Limits
//
// Routing ignores paths, methods, query parameters, ports, ReferenceGrants
// and Istio fault injection; see the router documentation on [Model.Route].
package traffic

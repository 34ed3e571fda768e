// Package e2e tests the weighted routers of package traffic against a real
// kube-apiserver (from internal/controlplane) instead of the fake cluster of
// their unit tests.
//
// The fake cluster stores custom resources without checking them; the real
// API server validates every write against the CRD's OpenAPI schema and its
// CEL rules, prunes fields the schema does not know, and applies its
// defaults. These tests install the CRDs of internal/routertest (the
// Gateway API HTTPRoute CRD of the gateway-api module's release manifests,
// with its full schema, and minimal Istio VirtualService and
// SMI TrafficSplit CRDs that keep every field), and, each in a namespace of
// its own with the Services web-stable and web-canary, check for every
// router (GatewayHTTPRoute, IstioVirtualService, SMITrafficSplit and
// NGINXIngress on a networking.k8s.io/v1 Ingress):
//
//   - Validate passes, and fails naming the field for a missing object;
//   - SetWeight of 0, 2, 25, 75 and 100 is read back exactly by Weight and
//     by reading the object;
//   - SetWeight of the weight already set writes nothing (requests are
//     counted with a RoundTripper on the client's rest.Config);
//   - header routes and mirrors, where the router has them, are written,
//     replaced and removed;
//   - the API server accepts every write, drops no field of it (it sends
//     no "unknown field" warning, and what was written reads back) and the
//     weighted rules survive its defaulting.
//
// A control test shows the Gateway API schema is enforced: the API server
// rejects an HTTPRoute with a negative weight or a bad rule name, and warns
// about an unknown field.
//
// There is no data plane, so traffic shares are not measured here; the
// unit tests of package traffic measure them on the fake cluster.
//
// Everything here skips under go test -short.
package e2e

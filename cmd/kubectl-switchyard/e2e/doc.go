// Package e2e tests the kubectl plugin kubectl-switchyard on a real
// control plane (internal/controlplane) instead of the fake cluster of the
// unit tests of package cli.
//
// The test builds the plugin into a temporary folder and runs it as a
// program, with a kubeconfig file whose context names the test's
// namespace, while a blue/green release with a manual promotion runs in
// the test process: list, status -o json, watch (its output a pipe, so
// one line per change) and promote, with their outputs and exit codes.
//
// Everything here skips under go test -short.
package e2e

//go:build tools

// Package prometheus pins the Prometheus server that the analysis end-to-end
// tests build; nothing imports it.
package prometheus

import _ "github.com/prometheus/prometheus/cmd/prometheus"

//go:build tools

// Package kwok pins the kwok command that the real-control-plane tests build;
// nothing imports it.
package kwok

import _ "sigs.k8s.io/kwok/cmd/kwok"

package hpae2e

import (
	"testing"

	"github.com/switchyard-dev/switchyard/internal/controlplane"
)

func TestMain(m *testing.M) { controlplane.Main(m) }

package conformance

import (
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/internal/controlplane"
)

func TestMain(m *testing.M) { controlplane.Main(m) }

func TestRealControlPlane(t *testing.T) {
	cfg := controlplane.Config(t)
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nop := func() {}
	runSuite(t, func(*testing.T) env {
		return env{kube: kube, clock: clock.RealClock{}, idle: nop, busy: nop}
	})
}

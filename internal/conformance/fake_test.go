package conformance

import (
	"testing"

	"github.com/switchyard-dev/switchyard/fake"
)

func TestFake(t *testing.T) {
	runSuite(t, func(t *testing.T) env {
		c := fake.NewCluster(fake.WithAutoAdvance())
		t.Cleanup(c.Stop)
		idle, busy, done := c.Clock().Track()
		t.Cleanup(done)
		return env{kube: c.Clients().Kube, clock: c.Clock(), idle: idle, busy: busy}
	})
}

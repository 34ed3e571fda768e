package reliability

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// helperTest is the test function a driver process runs.
const helperTest = "TestHelperProcess"

// The roles of a driver process.
const (
	canaryRole    = "canary-driver"
	bootstrapRole = "bootstrap-driver"
)

// driverArgs say which release a driver process runs.
type driverArgs struct {
	Namespace string
	Revision  string // canary only
}

// driverResult is how a driver process's Run ended.
type driverResult struct {
	e2ekit.ProcessOutcome
	Phase strategy.Phase
}

// TestHelperProcess is not a test: it is what the kill trials run in a
// process of their own (the test binary started again with
// -test.run=TestHelperProcess and the role in its environment), a driver
// that the test kills with SIGKILL. Its clients talk to the cluster of the
// kubeconfig the test hands it: a proxy of the test's.
func TestHelperProcess(t *testing.T) {
	role, ok := e2ekit.HelperRole()
	if !ok {
		t.Skip("runs only in a driver process started by the tests")
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	require.NoError(t, serveDriver(t, ctx, role))
}

// serveDriver runs the release of role with clients built from the
// helper's kubeconfig, as a deploy service would, as identity, and reports
// how it ended as the "result" message.
func serveDriver(t *testing.T, ctx context.Context, role string) error {
	var args driverArgs
	if err := e2ekit.HelperArgs(&args); err != nil {
		return err
	}
	cfg, err := e2ekit.HelperConfig()
	if err != nil {
		return err
	}
	clients, err := strategy.NewClients(cfg)
	if err != nil {
		return err
	}
	var s strategy.Strategy
	var r strategy.Release
	switch role {
	case canaryRole:
		s = newCanary(clients)
		r = strategy.Release{App: typesName(args.Namespace, appName), Revision: args.Revision,
			Workload: workload(args.Revision, canaryReplicas)}
	case bootstrapRole:
		s, r = newBootstrap(clients), bundleRelease(t, args.Namespace)
	default:
		return fmt.Errorf("unknown role %q", role)
	}
	start := time.Now()
	res, err := s.Run(ctx, r)
	out := driverResult{ProcessOutcome: e2ekit.NewProcessOutcome(err, time.Since(start))}
	if res != nil {
		out.Phase = res.Phase
	}
	e2ekit.Send("result", out)
	return nil
}

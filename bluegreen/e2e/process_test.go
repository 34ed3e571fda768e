package e2e

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// helperTest is the test function a helper process runs.
const helperTest = "TestHelperProcess"

// driverRole is the helper role that runs a blue/green release.
const driverRole = "driver"

// TestHelperProcess is not a test: it is what the tests of this package
// run in another process (the test binary started again with
// -test.run=TestHelperProcess and the role in its environment), so that a
// release is controlled, killed or raced from outside the test's process.
func TestHelperProcess(t *testing.T) {
	role, ok := e2ekit.HelperRole()
	if !ok {
		t.Skip("runs only in a helper process started by the tests")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	switch role {
	case e2ekit.ControlRole:
		require.NoError(t, e2ekit.ServeControl(ctx))
	case driverRole:
		require.NoError(t, serveDriver(ctx))
	default:
		t.Fatalf("unknown helper role %q", role)
	}
}

// driverArgs are a driver helper's: which release to run, how, and after
// which of its writes to stop.
type driverArgs struct {
	Namespace string
	Profile   string
	Revision  string
	Identity  string
	Lease     time.Duration // zero: the default
	// StopAfter stops the driver right after its n-th write (0: never),
	// StopAt right after the write it selects (nil: never), and sends
	// "stopped"; the parent then kills it.
	StopAfter int
	StopAt    *e2ekit.WriteMatch
}

// driverResult is how a driver helper's Run ended.
type driverResult struct {
	e2ekit.ProcessOutcome
	Phase     strategy.Phase
	Reason    strategy.Reason
	Message   string
	Stable    string
	Writes    []e2ekit.Write
	CheckRuns int32
}

// profiles are the specs the test and its helpers share, by name: a
// helper cannot be handed Go functions, so both build them from the name.
var profiles = map[string]func(checkRuns *atomic.Int32) bluegreen.Spec{
	// every step does something: a one-pod preview, a check before and
	// after the switch, an automatic promotion after 300ms, and the old
	// slot scaled down 1s after the switch.
	"every-step": func(checkRuns *atomic.Int32) bluegreen.Spec {
		spec := baseSpec()
		spec.PreviewReplicas = ptr.To[int32](1)
		spec.AutoPromotionAfter = 300 * time.Millisecond
		spec.RollbackWindow = ptr.To(0)
		pass := strategy.Check{Name: "pass", Func: func(context.Context, strategy.CheckInput) error {
			checkRuns.Add(1)
			return nil
		}}
		spec.PrePromotion = []strategy.Check{pass}
		spec.PostPromotion = []strategy.Check{pass}
		return spec
	},
	// a post-promotion check that passes after abortableCheck unless
	// cancelled first, and the old slot scaled down 1s after the switch.
	"abortable-check": func(checkRuns *atomic.Int32) bluegreen.Spec {
		spec := baseSpec()
		spec.RollbackWindow = ptr.To(0)
		spec.PostPromotion = []strategy.Check{{Name: "abortable", Func: func(ctx context.Context, in strategy.CheckInput) error {
			checkRuns.Add(1)
			t := in.Clock.NewTimer(abortableCheck)
			defer t.Stop()
			select {
			case <-t.C():
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}}
		return spec
	},
	// a post-promotion check that lasts longCheck.
	"long-check": func(checkRuns *atomic.Int32) bluegreen.Spec {
		spec := baseSpec()
		spec.PostPromotion = []strategy.Check{{Name: "long", Func: func(ctx context.Context, in strategy.CheckInput) error {
			checkRuns.Add(1)
			t := in.Clock.NewTimer(longCheck)
			defer t.Stop()
			select {
			case <-t.C():
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}}
		return spec
	},
}

// serveDriver plays driverRole: it runs the release with clients built
// from the helper's kubeconfig, as a deploy service would, and reports its
// writes and how the release ended.
func serveDriver(ctx context.Context) error {
	var args driverArgs
	if err := e2ekit.HelperArgs(&args); err != nil {
		return err
	}
	cfg, err := e2ekit.HelperConfig()
	if err != nil {
		return err
	}
	var log e2ekit.WriteLog
	stopped := func(w []e2ekit.Write) { e2ekit.Send("stopped", w) }
	switch {
	case args.StopAfter > 0:
		log.StopAfter(args.StopAfter, stopped)
	case args.StopAt != nil:
		log.StopWhen(args.StopAt.Func(), stopped)
	}
	clients, err := strategy.NewClients(log.Wrap(cfg))
	if err != nil {
		return err
	}
	opts := []strategy.Option{strategy.WithIdentity(args.Identity)}
	if args.Lease > 0 {
		opts = append(opts, strategy.WithLeaseDuration(args.Lease))
	}
	var runs atomic.Int32
	s := bluegreen.New(clients, profiles[args.Profile](&runs), opts...)
	e2ekit.Send("started", nil)
	start := time.Now()
	res, err := s.Run(ctx, strategy.Release{App: types.NamespacedName{Namespace: args.Namespace, Name: appName},
		Revision: args.Revision, Workload: workload(args.Revision)})
	out := driverResult{ProcessOutcome: e2ekit.NewProcessOutcome(err, time.Since(start)), Writes: log.Writes(), CheckRuns: runs.Load()}
	if res != nil {
		out.Phase, out.Reason, out.Message, out.Stable = res.Phase, res.Reason, res.Message, res.Stable
	}
	e2ekit.Send("result", out)
	return nil
}

// kubeconfig writes a kubeconfig of the test's control plane for helpers.
func (e *env) kubeconfig() string {
	e.t.Helper()
	return e2ekit.WriteKubeconfig(e.t, e.cfg)
}

// controlFromProcess sends action (and revision, for Undo) from a process
// of its own, as operator-<pid>.
func (e *env) controlFromProcess(kubeconfig string, action strategy.Action, revision string) e2ekit.ProcessOutcome {
	e.t.Helper()
	return e2ekit.ControlFromProcess(e.t, e.ctx, helperTest, kubeconfig, e2ekit.ControlRequest{
		Namespace: e.app.Namespace, App: appName, Action: action, Revision: revision, Identity: "operator-process"})
}

// startDriver runs a release in a driver helper process.
func (e *env) startDriver(kubeconfig string, args driverArgs) *e2ekit.Process {
	e.t.Helper()
	args.Namespace = e.app.Namespace
	return e2ekit.StartProcess(e.t, helperTest, kubeconfig, driverRole, args)
}

package e2ekit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-dev/switchyard/strategy"
)

// ControlRole is the helper role that sends one control request.
const ControlRole = "control"

// ControlRequest is what a control helper sends: Action (Abort, Undo,
// Promote, ...) on the release of app, as Identity.
type ControlRequest struct {
	Namespace, App string
	Action         strategy.Action
	Revision       string // for Undo
	Identity       string
}

// ProcessOutcome is how a call in a helper process ended: the error, if
// any, and the strategy sentinels it matches, since errors do not cross
// processes.
type ProcessOutcome struct {
	Pid       int
	Err       string
	Sentinels []string
	// Took is how long the call took in the helper.
	Took time.Duration
}

// Is reports whether the helper's error matched sentinel, one of
// strategy's ErrXxx values.
func (o ProcessOutcome) Is(sentinel error) bool {
	for _, s := range o.Sentinels {
		if s == sentinel.Error() {
			return true
		}
	}
	return false
}

var sentinels = []error{strategy.ErrInvalid, strategy.ErrLocked, strategy.ErrLeaseLost, strategy.ErrAborted,
	strategy.ErrProgressDeadline, strategy.ErrAnalysisFailed, strategy.ErrInconclusive, strategy.ErrNoRecord,
	strategy.ErrCorruptRecord, strategy.ErrForeignRecord, strategy.ErrUnknownRevision, strategy.ErrNotApplicable,
	strategy.ErrSuperseded, context.Canceled, context.DeadlineExceeded}

// NewProcessOutcome describes err, which a call in this process returned,
// for the parent.
func NewProcessOutcome(err error, took time.Duration) ProcessOutcome {
	o := ProcessOutcome{Pid: os.Getpid(), Took: took}
	if err != nil {
		o.Err = err.Error()
		for _, s := range sentinels {
			if errors.Is(err, s) {
				o.Sentinels = append(o.Sentinels, s.Error())
			}
		}
	}
	return o
}

// ServeControl plays ControlRole in a helper process: it builds a Control
// from the helper's kubeconfig, as another program would, sends the
// request and reports the outcome as the "result" message.
func ServeControl(ctx context.Context) error {
	var req ControlRequest
	if err := HelperArgs(&req); err != nil {
		return err
	}
	cfg, err := HelperConfig()
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	c := strategy.NewControl(kube, strategy.WithIdentity(req.Identity))
	app := types.NamespacedName{Namespace: req.Namespace, Name: req.App}
	start := time.Now()
	switch req.Action {
	case strategy.ActionAbort:
		err = c.Abort(ctx, app)
	case strategy.ActionUndo:
		err = c.Undo(ctx, app, req.Revision)
	case strategy.ActionPromote:
		err = c.Promote(ctx, app)
	case strategy.ActionPromoteFull:
		err = c.PromoteFull(ctx, app)
	case strategy.ActionPause:
		err = c.Pause(ctx, app)
	case strategy.ActionResume:
		err = c.Resume(ctx, app)
	case strategy.ActionRetry:
		err = c.Retry(ctx, app)
	default:
		err = fmt.Errorf("unknown action %q", req.Action)
	}
	Send("result", NewProcessOutcome(err, time.Since(start)))
	return nil
}

// ControlFromProcess sends req from a helper process of its own (test is
// the helper test function of the calling package) and returns the
// outcome once that process has exited.
func ControlFromProcess(tb testing.TB, ctx context.Context, test, kubeconfig string, req ControlRequest) ProcessOutcome {
	tb.Helper()
	p := StartProcess(tb, test, kubeconfig, ControlRole, req)
	var o ProcessOutcome
	if err := p.Result(ctx, &o); err != nil {
		tb.Fatalf("control helper (%s %s): %v\n%s", req.Action, req.Revision, err, p.Output())
	}
	if o.Pid == os.Getpid() {
		tb.Fatalf("the control request was sent from the test's own process")
	}
	return o
}

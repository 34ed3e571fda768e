package strategy

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// Strategy ships a Release to a cluster. Implementations are safe to call
// from several goroutines for different apps.
type Strategy interface {
	// Name is a short, stable name such as "bluegreen".
	Name() string
	// Plan reports what Run would do, without writing to the cluster.
	Plan(ctx context.Context, r Release) (*Plan, error)
	// Run drives r to a terminal phase. It is idempotent and resumable: for
	// a release in flight it continues from the recorded state, and for one
	// already finished it returns the recorded result.
	Run(ctx context.Context, r Release) (*Result, error)
}

// Release is one version of an app to ship.
type Release struct {
	// App names the application; its namespace holds everything switchyard
	// writes for it.
	App types.NamespacedName
	// Revision is the caller's name for this version: "v2", a git SHA. It
	// must be a valid label value.
	Revision string
	// Workload is the desired pods (template, replicas) for Day 2 strategies.
	Workload *appsv1.Deployment
	// Objects are manifests for Day 1, and companion objects (ConfigMaps,
	// Secrets) for Day 2.
	Objects []*unstructured.Unstructured
}

// Plan is what Run would do for a release.
type Plan struct {
	Strategy string
	App      types.NamespacedName
	Revision string
	// Current is the phase recorded for the app, empty when it has no record.
	Current Phase
	// Steps are the steps Run would take, in order.
	Steps []PlannedStep
}

// PlannedStep is one step of a Plan.
type PlannedStep struct {
	Name        string
	Description string
}

// Result is how a Run ended.
type Result struct {
	Strategy string
	App      types.NamespacedName
	Revision string
	Phase    Phase
	Reason   Reason
	// Stable is the revision that serves when Run returns.
	Stable   string
	Message  string
	Started  time.Time
	Finished time.Time
	// Children are the results of composed strategies (Sequence, Waves), in
	// the order they ran; Stage names the stage (a wave's name) that did
	// not succeed.
	Children []*Result
	Stage    string
}

// Err returns nil for a release that succeeded, and otherwise an error that
// matches the sentinel of its reason (ErrAborted, ErrProgressDeadline,
// ErrAnalysisFailed, ErrSuperseded) with errors.Is.
func (r *Result) Err() error {
	if r == nil || r.Phase == PhaseSucceeded {
		return nil
	}
	cause := reasonErr(r.Reason)
	if cause == nil {
		cause = ErrAborted
		if r.Phase == PhaseFailed {
			cause = errFailed
		}
	}
	return &ResultError{Result: r, cause: cause}
}

var errFailed = errors.New("release failed")

// ResultError is a release that ended other than Succeeded. It unwraps to
// the sentinel of its reason.
type ResultError struct {
	Result *Result
	cause  error
}

func (e *ResultError) Error() string {
	return fmt.Sprintf("release %s of %s ended %s: %s", e.Result.Revision, e.Result.App, e.Result.Phase, e.Result.Message)
}

func (e *ResultError) Unwrap() error { return e.cause }

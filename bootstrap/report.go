package bootstrap

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Action is what a run does, or a dry run would do, to one object.
type Action string

// The actions.
const (
	ActionCreate    Action = "create"
	ActionConfigure Action = "configure"
	ActionUnchanged Action = "unchanged"
	// ActionPrune deletes an object that left the bundle.
	ActionPrune Action = "prune"
	// ActionKeep leaves an object that left the bundle in place: prune is
	// off, the bundle did not create it, or it is a Namespace that holds
	// other objects. The report's Message says which.
	ActionKeep Action = "keep"
	// ActionDelete deletes an object this run created, to roll back.
	ActionDelete Action = "delete"
	// ActionSkip: the object was not applied because something it waits
	// for failed, or the run stopped first. Err is a *SkippedError.
	ActionSkip Action = "skip"
)

// ObjectReport is what happened, or would happen, to one object.
type ObjectReport struct {
	Ref Ref
	// Index is the object's position in the release's Objects, -1 for an
	// object that is only in the inventory.
	Index  int
	Action Action
	// Ready is true once the object was Current (or, for prune and delete,
	// gone).
	Ready bool
	// Status is the object's last status seen.
	Status ObjectStatus
	// Message explains the action when it needs explaining: why an object
	// is kept, which CRD a custom resource waits for in a dry run.
	Message string
	// Diff lists, for ActionConfigure in a dry run, the fields that would
	// change, one per line ("~ spec.replicas: 2 -> 3"). Values of Secrets
	// are not shown.
	Diff string
	// Err is why the object failed or was skipped.
	Err error
	// Applied is when the object was applied (or found unchanged) or
	// deleted, zero if neither; Duration is how long it then took to be
	// ready.
	Applied  time.Time
	Duration time.Duration
}

// Report is the outcome of Apply or DryRun, object by object, in the
// order of the graph: each object after those it waits for, then the
// objects that left the bundle, in the order they were (or would be)
// deleted.
type Report struct {
	Result  *strategy.Result
	Objects []ObjectReport
}

// Count returns how many objects had action a.
func (r *Report) Count(a Action) int {
	n := 0
	for _, o := range r.Objects {
		if o.Action == a {
			n++
		}
	}
	return n
}

// Object returns the report of ref.
func (r *Report) Object(ref Ref) (ObjectReport, bool) {
	for _, o := range r.Objects {
		if o.Ref == ref {
			return o, true
		}
	}
	return ObjectReport{}, false
}

// plan turns a dry run into a strategy.Plan.
func (r *Report) plan() *strategy.Plan {
	res := r.Result
	p := &strategy.Plan{Strategy: res.Strategy, App: res.App, Revision: res.Revision, Current: res.Phase}
	for _, o := range r.Objects {
		desc := string(o.Action)
		if o.Message != "" {
			desc += ": " + o.Message
		}
		if o.Diff != "" {
			desc += "\n" + o.Diff
		}
		if o.Err != nil {
			desc += " (" + o.Err.Error() + ")"
		}
		p.Steps = append(p.Steps, strategy.PlannedStep{Name: o.Ref.String(), Description: desc})
	}
	return p
}

// ObjectError is an object that failed: its apply or delete returned a
// permanent error, or its status turned Failed.
type ObjectError struct {
	Ref Ref
	// Op is "apply", "wait" or "delete".
	Op     string
	Status ObjectStatus
	Err    error
}

func (e *ObjectError) Error() string {
	switch {
	case e.Err != nil && e.Status.Status != "":
		return fmt.Sprintf("%s %s: %v; last status %s", verbing(e.Op), e.Ref, e.Err, e.Status)
	case e.Err != nil:
		return fmt.Sprintf("%s %s: %v", verbing(e.Op), e.Ref, e.Err)
	}
	return fmt.Sprintf("%s failed: %s", e.Ref, e.Status)
}

func (e *ObjectError) Unwrap() error { return e.Err }

func verbing(op string) string {
	switch op {
	case "apply":
		return "applying"
	case "delete":
		return "deleting"
	}
	return "waiting for"
}

// TimeoutError is an object that was not ready in time. It names the
// object's last status and the objects that were waiting for it, and
// matches strategy.ErrProgressDeadline.
type TimeoutError struct {
	Ref    Ref
	After  time.Duration
	Status ObjectStatus
	// Overall is true when the run's Timeout ran out, rather than the
	// object's own.
	Overall bool
	// Blocking are the objects that were waiting for this one.
	Blocking []Ref
	// Err is the last error the server returned for the object, when its
	// apply or delete was being retried as time ran out.
	Err error
}

func (e *TimeoutError) Error() string {
	what := "its object timeout"
	if e.Overall {
		what = "the run's timeout"
	}
	s := fmt.Sprintf("%s not ready after %s (%s)", e.Ref, e.After, what)
	if e.Status.Status != "" {
		s += "; last status " + e.Status.String()
	}
	if e.Err != nil {
		s += "; last error: " + e.Err.Error()
	}
	if len(e.Blocking) > 0 {
		s += "; waiting for it: " + joinRefs(e.Blocking, 5)
	}
	return s
}

// Is reports whether target is strategy.ErrProgressDeadline.
func (e *TimeoutError) Is(target error) bool { return target == strategy.ErrProgressDeadline }

// Unwrap returns the last error of the server, if any.
func (e *TimeoutError) Unwrap() error { return e.Err }

// SkippedError is an object that was never applied.
type SkippedError struct {
	Ref Ref
	// Dependency is the failed object it waits for, directly or through
	// others; empty when the run stopped before its turn.
	Dependency Ref
	Reason     string
}

func (e *SkippedError) Error() string { return fmt.Sprintf("%s skipped: %s", e.Ref, e.Reason) }

// FailedError is a run that did not get every object ready. It lists the
// objects that failed (each an *ObjectError or *TimeoutError) and those
// skipped because of them.
type FailedError struct {
	Failed  []error
	Skipped []*SkippedError
	// RolledBack counts the objects a rollback deleted.
	RolledBack int
}

func (e *FailedError) Error() string {
	parts := make([]string, 0, len(e.Failed))
	for _, f := range e.Failed {
		parts = append(parts, f.Error())
	}
	s := "bootstrap failed: " + strings.Join(parts, "; ")
	if len(e.Skipped) > 0 {
		refs := make([]Ref, len(e.Skipped))
		for i, sk := range e.Skipped {
			refs[i] = sk.Ref
		}
		s += fmt.Sprintf("; %d skipped: %s", len(e.Skipped), joinRefs(refs, 10))
	}
	if e.RolledBack > 0 {
		s += fmt.Sprintf("; rolled back %d created objects", e.RolledBack)
	}
	return s
}

// Unwrap returns the failures.
func (e *FailedError) Unwrap() []error { return e.Failed }

// Is reports whether target is strategy.ErrProgressDeadline and a failure
// is a timeout; errors.Is also finds it through Unwrap.
func (e *FailedError) Is(target error) bool {
	for _, f := range e.Failed {
		if errors.Is(f, target) {
			return true
		}
	}
	return false
}

func joinRefs(refs []Ref, limit int) string {
	parts := make([]string, 0, min(len(refs), limit))
	for i, r := range refs {
		if i == limit {
			parts = append(parts, fmt.Sprintf("and %d more", len(refs)-limit))
			break
		}
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ", ")
}

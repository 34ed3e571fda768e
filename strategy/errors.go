package strategy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/internal/retry"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// Sentinel errors. Every error a strategy returns for one of these reasons
// matches it with errors.Is, whatever type carries the details.
var (
	// ErrInvalid is matched by every *ValidationError.
	ErrInvalid = retry.ErrInvalid
	// ErrLocked means another driver holds the release's lease.
	ErrLocked = errors.New("release is locked by another driver")
	// ErrLeaseLost means the lease passed to another driver while this one
	// was running; this driver stopped without writing.
	ErrLeaseLost = errors.New("release lease lost to another driver")
	// ErrAborted means the release was aborted and traffic went back to the
	// stable version.
	ErrAborted = errors.New("release aborted")
	// ErrProgressDeadline means the release made no progress within its
	// progress deadline.
	ErrProgressDeadline = errors.New("progress deadline exceeded")
	// ErrAnalysisFailed means a check or analysis judged the new version bad.
	ErrAnalysisFailed = errors.New("analysis failed")
	// ErrInconclusive means a check or analysis could not decide whether
	// the new version is good. A strategy never treats it as a pass: it
	// pauses the release for a decision (Promote goes on, Abort stops).
	ErrInconclusive = errors.New("analysis inconclusive")
	// ErrNoRecord means the app has no release record yet.
	ErrNoRecord = record.ErrNoRecord
	// ErrCorruptRecord means the release record cannot be read. It is left
	// as it is for a person to inspect.
	ErrCorruptRecord = record.ErrCorruptRecord
	// ErrForeignRecord means an object with the record's name exists but was
	// not written by switchyard. It is never overwritten.
	ErrForeignRecord = record.ErrForeignRecord
	// ErrUnknownRevision means a revision is not in the release history.
	ErrUnknownRevision = errors.New("revision not in release history")
	// ErrNotApplicable means a control request does not apply to the
	// release's current phase, such as Resume on a release that is not paused.
	ErrNotApplicable = errors.New("request does not apply to the release's phase")
	// ErrForeignObject means an object a release would overwrite or delete
	// exists and does not carry the app's owner mark (AnnotationOwner).
	ErrForeignObject = errors.New("object is not this app's")
	// ErrSuperseded means a newer revision replaced the one being run.
	ErrSuperseded = errors.New("release superseded by a newer revision")
)

// FieldError is one bad field of a spec or release.
type FieldError struct {
	// Path names the field, e.g. "release.workload.spec.replicas".
	Path string
	// Value is the bad value, when showing it helps.
	Value any
	// Message says what is wrong, in lower case.
	Message string
}

func (f FieldError) String() string {
	if f.Value == nil {
		return f.Path + ": " + f.Message
	}
	return fmt.Sprintf("%s: %s (got %v)", f.Path, f.Message, f.Value)
}

// ValidationError lists every bad field found before anything was written to
// the cluster. It matches ErrInvalid.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.String()
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// Is reports whether target is ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Has reports whether the error names the field path.
func (e *ValidationError) Has(path string) bool {
	for _, f := range e.Fields {
		if f.Path == path {
			return true
		}
	}
	return false
}

// Validator collects field errors; its zero value is ready to use.
type Validator struct {
	fields []FieldError
}

// Add records a bad field.
func (v *Validator) Add(path string, value any, format string, args ...any) {
	v.fields = append(v.fields, FieldError{Path: path, Value: value, Message: fmt.Sprintf(format, args...)})
}

// Check records a bad field when ok is false.
func (v *Validator) Check(ok bool, path string, value any, format string, args ...any) {
	if !ok {
		v.Add(path, value, format, args...)
	}
}

// Merge adds the fields of err when it is a *ValidationError, and a field
// at path with err's text otherwise.
func (v *Validator) Merge(path string, err error) {
	if err == nil {
		return
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		v.fields = append(v.fields, ve.Fields...)
		return
	}
	v.Add(path, nil, "%v", err)
}

// Err returns a *ValidationError when any field was bad, nil otherwise.
func (v *Validator) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &ValidationError{Fields: append([]FieldError(nil), v.fields...)}
}

// LockedError says which driver holds a release's lease and until when. It
// matches ErrLocked.
type LockedError struct {
	App    types.NamespacedName
	Holder string
	Until  time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("release %s is locked by %q until %s", e.App, e.Holder, e.Until.Format(time.RFC3339Nano))
}

// Is reports whether target is ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// RecordError is a release record that cannot be used. It unwraps to
// ErrCorruptRecord or ErrForeignRecord.
type RecordError = record.RecordError

// PhaseError is a control request that does not fit the release's phase. It
// matches ErrNotApplicable.
type PhaseError struct {
	Action Action
	Phase  Phase
	// Why says what stands in the way, and what to do instead, when the
	// phase alone does not.
	Why string
}

func (e *PhaseError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("%s refused for a release in phase %s: %s", e.Action, e.Phase, e.Why)
	}
	return fmt.Sprintf("%s does not apply to a release in phase %s", e.Action, e.Phase)
}

// Is reports whether target is ErrNotApplicable.
func (e *PhaseError) Is(target error) bool { return target == ErrNotApplicable }

// WatchError is a watch a release waits on that failed in a way retrying
// does not mend, such as a missing "watch" permission: the release stops
// at once instead of waiting out its deadline.
type WatchError struct {
	Err error
}

func (e *WatchError) Error() string { return "watching the cluster: " + e.Err.Error() }

// Unwrap returns the watch's error.
func (e *WatchError) Unwrap() error { return e.Err }

// ForeignObjectError is an object in the way of a release that switchyard
// did not create for the app: it is left as it is. It matches
// ErrForeignObject.
type ForeignObjectError struct {
	Kind, Namespace, Name string
}

func (e *ForeignObjectError) Error() string {
	return fmt.Sprintf("%s %s/%s exists and is not this app's (no %s mark of its release record): "+
		"rename or delete it, or choose another app name", e.Kind, e.Namespace, e.Name, AnnotationOwner)
}

// Is reports whether target is ErrForeignObject.
func (e *ForeignObjectError) Is(target error) bool { return target == ErrForeignObject }

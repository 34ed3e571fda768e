package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Errors of reading a record; package strategy exports the same values.
var (
	// ErrNoRecord means the app has no release record yet.
	ErrNoRecord = errors.New("no release record")
	// ErrCorruptRecord means the release record cannot be read. It is left
	// as it is for a person to inspect.
	ErrCorruptRecord = errors.New("release record is corrupt")
	// ErrForeignRecord means an object with the record's name exists but was
	// not written by switchyard. It is never overwritten.
	ErrForeignRecord = errors.New("object is not a switchyard release record")
)

// RecordError is a release record that cannot be used. It unwraps to
// ErrCorruptRecord or ErrForeignRecord.
type RecordError struct {
	App    types.NamespacedName
	Name   string // the ConfigMap's name
	Reason string
	Err    error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("release record %s/%s of %s: %s", e.App.Namespace, e.Name, e.App, e.Reason)
}

func (e *RecordError) Unwrap() error { return e.Err }

// Decode checks that cm is a release record of app and parses it. A
// ConfigMap not labelled as a record is ErrForeignRecord; one that does not
// parse, or holds values a driver cannot act on, is ErrCorruptRecord.
func Decode(app types.NamespacedName, cm *corev1.ConfigMap) (*Record, error) {
	bad := func(reason string, err error) error {
		return &RecordError{App: app, Name: cm.Name, Reason: reason, Err: err}
	}
	if cm.Labels[LabelRecord] != "true" || cm.Labels[LabelManagedBy] != ManagedBy {
		return nil, bad("the ConfigMap exists but is not labelled as switchyard's; it is left untouched", ErrForeignRecord)
	}
	raw, ok := cm.Data[RecordKey]
	if !ok {
		return nil, bad("no "+RecordKey+" key", ErrCorruptRecord)
	}
	var r Record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, bad("cannot parse "+RecordKey+": "+err.Error(), ErrCorruptRecord)
	}
	switch {
	case r.Schema != RecordSchema:
		return nil, bad(fmt.Sprintf("schema %d, this version reads %d", r.Schema, RecordSchema), ErrCorruptRecord)
	case r.App != app.Name:
		return nil, bad(fmt.Sprintf("record is for app %q", r.App), ErrCorruptRecord)
	}
	if problems := r.Problems(); len(problems) > 0 {
		return nil, bad(strings.Join(problems, "; "), ErrCorruptRecord)
	}
	r.uid = cm.UID
	return &r, nil
}

// Problems lists what makes a parsed record unusable: anyone who can edit
// ConfigMaps in the namespace can write one, and none of it may crash the
// program that reads it, fake an outcome or steer writes elsewhere. The
// strategy checks its own steps and state on top (see Begin).
func (r *Record) Problems() []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if !r.Phase.Known() {
		add("unknown phase %q", r.Phase)
	}
	if !r.Reason.Known() {
		add("unknown reason %q", r.Reason)
	}
	if r.Step < 0 || r.Step > maxSteps {
		add("step %d out of range", r.Step)
	}
	if len(r.StepName) > 253 {
		add("step name too long")
	}
	for _, rev := range []string{r.Revision, r.Stable, r.Previous} {
		if errs := validation.IsValidLabelValue(rev); len(errs) > 0 {
			add("revision %q: %s", rev, strings.Join(errs, ", "))
		}
	}
	if r.Lease.Duration.Duration < 0 {
		add("negative lease duration")
	}
	if r.Seq < 0 {
		add("negative request sequence")
	}
	if len(r.Requests) > 2*MaxPendingRequests {
		add("%d pending requests", len(r.Requests))
	}
	for _, q := range r.Requests {
		if !q.Action.Known() {
			add("unknown request %q", q.Action)
		}
	}
	if len(r.History) > maxHistory {
		add("%d history entries", len(r.History))
	}
	if len(r.Measurements) > 2*MeasurementLimit {
		add("%d measurements", len(r.Measurements))
	}
	out = append(out, r.timelineProblems()...)
	return out
}

// Bounds of a record that reading accepts.
const (
	maxSteps   = 10000
	maxHistory = 1000
)

// Encode returns r as the JSON a record ConfigMap holds.
func Encode(r *Record) (string, error) {
	b, err := json.Marshal(r)
	return string(b), err
}

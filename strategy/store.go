package strategy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cenkalti/backoff/v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// store reads and writes release records.
type store struct {
	kube  kubernetes.Interface
	retry Retrier
}

// decodeRecord checks that cm is a release record of app and parses it.
func decodeRecord(app types.NamespacedName, cm *corev1.ConfigMap) (*Record, error) {
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
	if problems := r.problems(); len(problems) > 0 {
		return nil, bad(strings.Join(problems, "; "), ErrCorruptRecord)
	}
	r.uid = cm.UID
	return &r, nil
}

// problems lists what makes a parsed record unusable: anyone who can edit
// ConfigMaps in the namespace can write one, and none of it may crash the
// program that reads it, fake an outcome or steer writes elsewhere. The
// strategy checks its own steps and state on top (see Begin).
func (r *Record) problems() []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if !r.Phase.known() {
		add("unknown phase %q", r.Phase)
	}
	if r.Reason != "" && r.Reason.Err() == nil {
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
	if len(r.Requests) > 2*maxPendingRequests {
		add("%d pending requests", len(r.Requests))
	}
	for _, q := range r.Requests {
		if !q.Action.known() {
			add("unknown request %q", q.Action)
		}
	}
	if len(r.History) > maxHistory {
		add("%d history entries", len(r.History))
	}
	if len(r.Measurements) > 2*MeasurementLimit {
		add("%d measurements", len(r.Measurements))
	}
	return out
}

// Bounds of a record that reading accepts.
const (
	maxSteps   = 10000
	maxHistory = 1000
)

func encodeRecord(r *Record) (string, error) {
	b, err := json.Marshal(r)
	return string(b), err
}

// get reads the record once and returns it with the resourceVersion it was
// read at.
func (s *store) get(ctx context.Context, app types.NamespacedName) (*Record, string, error) {
	r, cm, err := s.read(ctx, app)
	if err != nil {
		return nil, "", err
	}
	return r, cm.ResourceVersion, nil
}

// read is get that also returns the ConfigMap.
func (s *store) read(ctx context.Context, app types.NamespacedName) (*Record, *corev1.ConfigMap, error) {
	cm, err := s.kube.CoreV1().ConfigMaps(app.Namespace).Get(ctx, RecordName(app.Name), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("release %s: %w", app, ErrNoRecord)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading release record of %s: %w", app, err)
	}
	r, err := decodeRecord(app, cm)
	if err != nil {
		return nil, nil, err
	}
	return r, cm, nil
}

// load is get, retried on transient errors.
func (s *store) load(ctx context.Context, app types.NamespacedName) (r *Record, rv string, err error) {
	err = s.retry.Do(ctx, func(ctx context.Context) error {
		r, rv, err = s.get(ctx, app)
		return err
	})
	return r, rv, err
}

// update applies mutate to the current record and writes it. When another
// writer got there first (a conflict), it reads again and re-applies mutate,
// so mutate may run several times and must depend only on its argument.
// When the app has no record and create is true, mutate starts from a new
// one.
func (s *store) update(ctx context.Context, app types.NamespacedName, create bool, mutate func(*Record) error) (*Record, string, error) {
	return s.updateFrom(ctx, app, nil, "", create, mutate)
}

// updateFrom is update starting from a record the caller holds, read at
// resourceVersion known, which saves the read when nobody else wrote since;
// a conflict falls back to reading.
func (s *store) updateFrom(ctx context.Context, app types.NamespacedName, known *Record, knownRV string, create bool, mutate func(*Record) error) (*Record, string, error) {
	var out *Record
	var rv string
	sent := "" // the record last sent, when its answer was lost
	err := s.retry.Do(ctx, func(ctx context.Context) error {
		var r *Record
		var readRV string
		var err error
		if known != nil && knownRV != "" {
			r, readRV, err = known.clone(), knownRV, nil
			known = nil // once: after a conflict, read
		} else {
			var cm *corev1.ConfigMap
			r, cm, err = s.read(ctx, app)
			if err == nil {
				readRV = cm.ResourceVersion
				if sent != "" && cm.Data[RecordKey] == sent {
					// The write whose answer was lost took effect: the
					// record holds exactly what was sent (its times are
					// exact to the nanosecond).
					out, rv = r, readRV
					return nil
				}
			}
		}
		exists := err == nil
		switch {
		case create && errors.Is(err, ErrNoRecord):
			r = &Record{Schema: RecordSchema, App: app.Name}
		case err != nil:
			return err
		}
		if err := mutate(r); err != nil {
			return backoff.Permanent(err)
		}
		data, err := encodeRecord(r)
		if err != nil {
			return backoff.Permanent(fmt.Errorf("encoding release record: %w", err))
		}
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name:            RecordName(app.Name),
				Namespace:       app.Namespace,
				ResourceVersion: readRV,
				Labels:          map[string]string{LabelManagedBy: ManagedBy, LabelRecord: "true", LabelApp: app.Name},
			},
			Data: map[string]string{RecordKey: data},
		}
		cms := s.kube.CoreV1().ConfigMaps(app.Namespace)
		var written *corev1.ConfigMap
		if exists {
			written, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		} else {
			written, err = cms.Create(ctx, cm, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				// Another driver created it first: read it and try again.
				err = apierrors.NewConflict(corev1.Resource("configmaps"), cm.Name, err)
			}
		}
		if err != nil {
			if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
				sent = data // the server may have written it and the answer got lost
			}
			return fmt.Errorf("writing release record of %s: %w", app, err)
		}
		out, rv = r, written.ResourceVersion
		out.uid = written.UID
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, rv, nil
}

// newerVersion reports whether resource version a is later than b. Versions
// are opaque to clients, but both etcd-backed servers and client-go's fake
// use increasing integers; anything else counts as newer when it differs.
func newerVersion(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return a != b
	}
	return x > y
}

// Package store reads, writes and watches release records, and keeps the
// process-local register of the apps this process drives.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/cenkalti/backoff/v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-dev/switchyard/internal/retry"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// Store reads and writes release records.
type Store struct {
	Kube  kubernetes.Interface
	Retry retry.Retrier
}

// Get reads the record once and returns it with the resourceVersion it was
// read at.
func (s *Store) Get(ctx context.Context, app types.NamespacedName) (*record.Record, string, error) {
	r, cm, err := s.Read(ctx, app)
	if err != nil {
		return nil, "", err
	}
	return r, cm.ResourceVersion, nil
}

// Read is Get that also returns the ConfigMap.
func (s *Store) Read(ctx context.Context, app types.NamespacedName) (*record.Record, *corev1.ConfigMap, error) {
	cm, err := s.Kube.CoreV1().ConfigMaps(app.Namespace).Get(ctx, record.Name(app.Name), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("release %s: %w", app, record.ErrNoRecord)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading release record of %s: %w", app, err)
	}
	r, err := record.Decode(app, cm)
	if err != nil {
		return nil, nil, err
	}
	return r, cm, nil
}

// Load is Get, retried on transient errors.
func (s *Store) Load(ctx context.Context, app types.NamespacedName) (r *record.Record, rv string, err error) {
	err = s.Retry.Do(ctx, func(ctx context.Context) error {
		r, rv, err = s.Get(ctx, app)
		return err
	})
	return r, rv, err
}

// Update applies mutate to the current record and writes it. When another
// writer got there first (a conflict), it reads again and re-applies mutate,
// so mutate may run several times and must depend only on its argument.
// When the app has no record and create is true, mutate starts from a new
// one.
func (s *Store) Update(ctx context.Context, app types.NamespacedName, create bool, mutate func(*record.Record) error) (*record.Record, string, error) {
	return s.UpdateFrom(ctx, app, nil, "", create, mutate)
}

// UpdateFrom is Update starting from a record the caller holds, read at
// resourceVersion known, which saves the read when nobody else wrote since;
// a conflict falls back to reading.
func (s *Store) UpdateFrom(ctx context.Context, app types.NamespacedName, known *record.Record, knownRV string, create bool, mutate func(*record.Record) error) (*record.Record, string, error) {
	var out *record.Record
	var rv string
	sent := "" // the record last sent, when its answer was lost
	err := s.Retry.Do(ctx, func(ctx context.Context) error {
		var r *record.Record
		var readRV string
		var err error
		if known != nil && knownRV != "" {
			r, readRV, err = known.Clone(), knownRV, nil
			known = nil // once: after a conflict, read
		} else {
			var cm *corev1.ConfigMap
			r, cm, err = s.Read(ctx, app)
			if err == nil {
				readRV = cm.ResourceVersion
				if sent != "" && cm.Data[record.RecordKey] == sent {
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
		case create && errors.Is(err, record.ErrNoRecord):
			r = &record.Record{Schema: record.RecordSchema, App: app.Name}
		case err != nil:
			return err
		}
		if err := mutate(r); err != nil {
			return backoff.Permanent(err)
		}
		data, err := record.Encode(r)
		if err != nil {
			return backoff.Permanent(fmt.Errorf("encoding release record: %w", err))
		}
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name:            record.Name(app.Name),
				Namespace:       app.Namespace,
				ResourceVersion: readRV,
				Labels:          map[string]string{record.LabelManagedBy: record.ManagedBy, record.LabelRecord: "true", record.LabelApp: app.Name},
			},
			Data: map[string]string{record.RecordKey: data},
		}
		cms := s.Kube.CoreV1().ConfigMaps(app.Namespace)
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
		out.SetUID(written.UID)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, rv, nil
}

// NewerVersion reports whether resource version a is later than b. Versions
// are opaque to clients, but both etcd-backed servers and client-go's fake
// use increasing integers; anything else counts as newer when it differs.
func NewerVersion(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return a != b
	}
	return x > y
}

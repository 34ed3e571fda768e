package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/cenkalti/backoff/v4"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// jobResult is what an apply job reports back to the run.
type jobResult struct {
	i       int
	action  Action // ActionCreate, ActionConfigure or ActionUnchanged
	created bool   // this run created the object
	obj     *unstructured.Unstructured
	gvr     schema.GroupVersionResource
	err     error
}

// applyJob applies object i: it finds where the kind is served (waiting
// for the discovery of a kind whose CRD was just established), compares
// the live object with what the inventory recorded, and applies it only
// when something differs. It runs in its own goroutine.
//
// known is where the kind is served, when the run knows it already.
func (rn *run) applyJob(ctx context.Context, i int, known schema.GroupVersionResource, w waiter) jobResult {
	res := jobResult{i: i}
	gvr, err := rn.resolve(ctx, i, known, w)
	if err != nil {
		res.err = err
		return res
	}
	res.gvr = gvr
	u := rn.b.desired[i]
	key := cacheKey{gvr: gvr, namespace: u.GetNamespace()}
	var live *unstructured.Unstructured
	ref := rn.b.g.refs[i]
	err = rn.retry(ctx, ref, w, nil, func(context.Context) error {
		c, err := rn.caches.get(key)
		if err != nil {
			return err
		}
		live, _ = c.Get(u.GetNamespace(), u.GetName())
		return nil
	})
	if err != nil {
		res.err = err
		return res
	}
	if rn.isUnchanged(i, live) {
		res.action, res.obj = ActionUnchanged, live
		return res
	}
	res.action, res.created = ActionConfigure, live == nil
	if res.created {
		res.action = ActionCreate
	}
	crdBacked := rn.b.kinds[i].crd >= 0
	err = rn.retry(ctx, ref, w, func(err error) bool {
		// A custom resource applied right after its CRD was established
		// may meet a server that does not serve it yet.
		return crdBacked && apierrors.IsNotFound(err)
	}, func(ctx context.Context) error {
		out, err := rn.apply(ctx, gvr, u, false)
		res.obj = out
		return err
	})
	res.err = err
	return res
}

// apply server-side applies u with the run's field manager.
func (rn *run) apply(ctx context.Context, gvr schema.GroupVersionResource, u *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	opts := metav1.ApplyOptions{FieldManager: rn.s.cfg.FieldManager, Force: rn.s.spec.ForceConflicts}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	res := rn.s.clients.Dynamic.Resource(gvr)
	var out *unstructured.Unstructured
	var err error
	if ns := u.GetNamespace(); ns != "" {
		out, err = res.Namespace(ns).Apply(ctx, u.GetName(), u, opts)
	} else {
		out, err = res.Apply(ctx, u.GetName(), u, opts)
	}
	if apierrors.IsConflict(err) {
		// A conflict with another field manager is not a race: trying
		// again gives the same answer.
		err = backoff.Permanent(fmt.Errorf("%w (set ForceConflicts to take the fields over)", err))
	}
	return out, err
}

// resolve returns the resource that serves object i. A kind whose CRD is
// in the bundle is served once the CRD is established, but discovery may
// lag behind: the mapper is reset and asked again a few times.
func (rn *run) resolve(ctx context.Context, i int, known schema.GroupVersionResource, w waiter) (schema.GroupVersionResource, error) {
	if !known.Empty() {
		return known, nil
	}
	gvk := rn.b.desired[i].GroupVersionKind()
	var gvr schema.GroupVersionResource
	tries := 0
	err := rn.retry(ctx, rn.b.g.refs[i], w, func(err error) bool {
		tries++
		return meta.IsNoMatchError(err) && tries < 8
	}, func(context.Context) error {
		m, err := rn.s.clients.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			rn.s.clients.Mapper.Reset()
			return err
		}
		gvr = m.Resource
		return nil
	})
	if err != nil {
		return gvr, fmt.Errorf("finding the resource of %s: %w", gvk, err)
	}
	return gvr, nil
}

// isUnchanged reports whether live is object i as the inventory says this
// bundle last applied it: same manifest, same UID, still annotated as the
// bundle's, and the fields the bundle owns unchanged since, which is what
// would change if anyone else had edited or taken over one of them.
func (rn *run) isUnchanged(i int, live *unstructured.Unstructured) bool {
	if live == nil || live.GetDeletionTimestamp() != nil || live.GetAnnotations()[AnnotationBundle] != rn.b.id {
		return false
	}
	e, ok := rn.invIdx[rn.b.g.refs[i]]
	if !ok || e.Hash != rn.b.hashes[i] || e.Fields == "" || e.UID != live.GetUID() {
		return false
	}
	return fieldsDigest(live, rn.s.cfg.FieldManager) == e.Fields
}

// fieldsDigest returns a digest of the fields manager owns in u through
// apply, "" when it owns none.
func fieldsDigest(u *unstructured.Unstructured, manager string) string {
	if u == nil {
		return ""
	}
	for _, mf := range u.GetManagedFields() {
		if mf.Manager != manager || mf.Operation != metav1.ManagedFieldsOperationApply || mf.Subresource != "" {
			continue
		}
		raw, err := json.Marshal(struct {
			APIVersion string          `json:"apiVersion"`
			Fields     json.RawMessage `json:"fields,omitempty"`
		}{mf.APIVersion, fieldsRaw(mf.FieldsV1)})
		if err != nil {
			return ""
		}
		h := sha256.Sum256(raw)
		return hex.EncodeToString(h[:16])
	}
	return ""
}

func fieldsRaw(f *metav1.FieldsV1) json.RawMessage {
	if f == nil {
		return nil
	}
	return f.GetRawBytes()
}

// olderThan reports whether resource version a comes before b. Versions
// are compared as numbers, as they are in practice; when either is not a
// number, nothing is older.
func olderThan(a, b string) bool {
	x, err1 := strconv.ParseUint(a, 10, 64)
	y, err2 := strconv.ParseUint(b, 10, 64)
	return err1 == nil && err2 == nil && x < y
}

// waiter lets a job wait on the clock: it marks the job idle for an
// auto-advancing fake clock while it waits.
type waiter struct {
	idle, busy func()
}

// track registers a job with such a clock; with any other clock the
// functions do nothing.
func track(clk any) (w waiter, done func()) {
	idle, busy, done := flow.Track(clk)
	return waiter{idle: idle, busy: busy}, done
}

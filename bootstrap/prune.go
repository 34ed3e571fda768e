package bootstrap

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy"
)

type delPhase int

const (
	delPending  delPhase = iota // waits for what must go first
	delDeleting                 // a job is deleting it
	delWaiting                  // deleted, not gone yet
	delGone
	delFailed
	delKept // left in place; the report says why
)

// delNode is one object to delete, in a prune or a rollback.
type delNode struct {
	ref   Ref
	index int // in the bundle, -1 for an object only in the inventory
	gvr   schema.GroupVersionResource
	uid   types.UID
	// after are the nodes that must be gone before this one goes: those
	// that depend on it.
	after    []int
	phase    delPhase
	forget   bool // kept, and dropped from the inventory: not the bundle's
	msg      string
	err      error
	deleted  time.Time
	deadline time.Time
}

// prune deletes the objects that left the bundle and that the bundle may
// delete, dependents first; the others are kept, with the reason.
func (rn *run) prune(ctx context.Context, rep *Report) ([]*delNode, error) {
	var nodes []*delNode
	var lives []*unstructured.Unstructured
	for _, e := range rn.leaving() {
		n, live, err := rn.pruneCandidate(ctx, e)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
		lives = append(lives, live)
	}
	rn.order(nodes, lives)
	if err := rn.deleteAll(ctx, nodes, EventPruned); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		rep.Objects = append(rep.Objects, n.report(ActionPrune))
	}
	return nodes, nil
}

// pruneCandidate decides whether an object that left the bundle may go.
func (rn *run) pruneCandidate(ctx context.Context, e invEntry) (*delNode, *unstructured.Unstructured, error) {
	n := &delNode{ref: e.ref(), index: -1, uid: e.UID}
	keep := func(forget bool, msg string) (*delNode, *unstructured.Unstructured, error) {
		n.phase, n.forget, n.msg = delKept, forget, msg
		rn.em.object(ctx, EventKept, n.ref, "left the bundle; kept: "+msg, nil)
		return n, nil, nil
	}
	m, err := rn.s.clients.Mapper.RESTMapping(e.gvk().GroupKind(), e.Version)
	if meta.IsNoMatchError(err) {
		n.phase, n.msg = delGone, "already gone (its kind is no longer served)"
		return n, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("finding the resource of %s: %w", n.ref, err)
	}
	n.gvr = m.Resource
	c, err := rn.caches.get(cacheKey{gvr: n.gvr, namespace: e.Namespace})
	if err != nil {
		return nil, nil, err
	}
	live, ok := c.Get(e.Namespace, e.Name)
	switch {
	case !ok:
		n.phase, n.msg = delGone, "already gone"
		return n, nil, nil
	case !e.Created:
		return keep(true, "the bundle did not create it")
	case live.GetAnnotations()[AnnotationBundle] != rn.b.id:
		return keep(true, "it is no longer annotated as this bundle's")
	case e.UID != "" && live.GetUID() != e.UID:
		return keep(true, "it was replaced since the bundle created it")
	case live.GetDeletionTimestamp() != nil:
		n.phase, n.deleted = delWaiting, rn.s.cfg.Clock.Now()
		n.deadline = n.deleted.Add(rn.s.spec.ObjectTimeout)
		return n, live, nil
	}
	var foreign []Ref
	switch n.ref.GroupKind() {
	case schema.GroupKind{Kind: "Namespace"}:
		foreign, err = rn.foreignObjects(ctx, e.Name)
	case crdKind:
		foreign, err = rn.foreignResources(ctx, live)
	}
	if err != nil {
		return keep(false, err.Error())
	}
	if len(foreign) > 0 {
		// Still the bundle's: a later run deletes it once they are gone.
		return keep(false, "it holds objects outside the inventory: "+joinRefs(foreign, 5))
	}
	return n, live, nil
}

// foreignResources lists the custom resources of a CRD, which would go
// with it, that are not among the objects leaving the bundle.
func (rn *run) foreignResources(ctx context.Context, crd *unstructured.Unstructured) ([]Ref, error) {
	gk := schema.GroupKind{Group: str(crd.Object, "spec", "group"), Kind: str(crd.Object, "spec", "names", "kind")}
	m, err := rn.s.clients.Mapper.RESTMapping(gk)
	if meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot tell what %s holds: %w", gk, err)
	}
	list, err := rn.s.clients.Dynamic.Resource(m.Resource).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("cannot tell what %s holds: %w", gk, err)
	}
	leaving := map[Ref]bool{}
	for _, e := range rn.leaving() {
		leaving[e.ref()] = true
	}
	var out []Ref
	for k := range list.Items {
		ref := Ref{Group: gk.Group, Kind: gk.Kind, Namespace: list.Items[k].GetNamespace(), Name: list.Items[k].GetName()}
		if !leaving[ref] {
			out = append(out, ref)
		}
	}
	return out, nil
}

// order sets each node's after: a node goes once every node that depends
// on it is gone, as the graph of the live objects says.
func (rn *run) order(nodes []*delNode, lives []*unstructured.Unstructured) {
	var objs []*unstructured.Unstructured
	var at []int
	for k, n := range nodes {
		if n.phase == delPending && lives[k] != nil {
			objs = append(objs, normalize(lives[k]))
			at = append(at, k)
		}
	}
	var v strategy.Validator // a cycle only loses its order
	g := buildGraph(objs, nil, &v)
	for gi, k := range at {
		for _, d := range g.dependents[gi] {
			nodes[k].after = append(nodes[k].after, at[d])
		}
	}
}

// rollback deletes what this run created, dependents first. The namespace
// of the release record stays: the record and the inventory are in it.
func (rn *run) rollback(ctx context.Context, rep *Report) ([]*delNode, error) {
	var nodes []*delNode
	at := map[int]int{} // bundle index -> node
	for _, i := range rn.b.g.order {
		n := rn.nodes[i]
		if !n.created || n.applied.IsZero() {
			continue
		}
		ref := rn.b.g.refs[i]
		dn := &delNode{ref: ref, index: i, gvr: rn.kindOf(i), uid: n.uid}
		if ref == (Ref{Kind: "Namespace", Name: rn.b.rel.App.Namespace}) {
			dn.phase, dn.msg = delKept, "it holds the release record and the inventory"
		}
		at[i] = len(nodes)
		nodes = append(nodes, dn)
	}
	for i, k := range at {
		for _, d := range rn.b.g.dependents[i] {
			if kd, ok := at[d]; ok {
				nodes[k].after = append(nodes[k].after, kd)
			}
		}
	}
	if err := rn.deleteAll(ctx, nodes, EventDeleted); err != nil {
		return nil, err
	}
	for _, dn := range nodes {
		r := dn.report(ActionDelete)
		r.Index = dn.index
		rep.Objects = append(rep.Objects, r)
	}
	return nodes, nil
}

func (n *delNode) report(a Action) ObjectReport {
	r := ObjectReport{Ref: n.ref, Index: n.index, Action: a, Ready: n.phase == delGone, Message: n.msg, Err: n.err, Applied: n.deleted}
	if n.phase == delKept {
		r.Action = ActionKeep
	}
	return r
}

type delResult struct {
	k   int
	err error
}

// deleteAll deletes nodes, each once the nodes in its after are gone, and
// waits until each is gone from its watch. A node whose dependents could
// not be deleted is kept.
func (rn *run) deleteAll(ctx context.Context, nodes []*delNode, done strategy.EventType) error {
	results := make(chan delResult, len(nodes))
	running := 0
	for {
		rn.hub.take()
		for drained := false; !drained; {
			select {
			case r := <-results:
				running--
				n := nodes[r.k]
				switch {
				case r.err != nil:
					n.phase, n.err = delFailed, &ObjectError{Ref: n.ref, Op: "delete", Err: r.err}
					rn.em.object(ctx, EventFailed, n.ref, "delete failed", n.err)
				default:
					n.phase, n.deleted = delWaiting, rn.s.cfg.Clock.Now()
					n.deadline = n.deleted.Add(rn.s.spec.ObjectTimeout)
				}
			default:
				drained = true
			}
		}
		now := rn.s.cfg.Clock.Now()
		settled := true
		for k, n := range nodes {
			switch n.phase {
			case delWaiting:
				if rn.gone(n) {
					n.phase = delGone
					rn.em.object(ctx, done, n.ref, "deleted", nil)
				} else if !now.Before(n.deadline) {
					n.phase = delFailed
					n.err = &TimeoutError{Ref: n.ref, After: rn.s.spec.ObjectTimeout, Status: ObjectStatus{Status: StatusTerminating, Message: "still there after its deletion"}}
					rn.em.object(ctx, EventFailed, n.ref, "not gone in time", n.err)
				}
			case delPending:
				blocked, ready := "", true
				for _, a := range n.after {
					switch nodes[a].phase {
					case delGone:
					case delFailed, delKept:
						blocked = nodes[a].ref.String()
					default:
						ready = false
					}
				}
				if blocked != "" {
					n.phase, n.msg = delKept, "kept because "+blocked+", which depends on it, was not deleted"
					rn.em.object(ctx, EventKept, n.ref, n.msg, nil)
					continue
				}
				if ready && running < rn.s.spec.Concurrency {
					n.phase = delDeleting
					running++
					w, doneFn := track(rn.s.cfg.Clock)
					go func() {
						defer doneFn()
						results <- delResult{k: k, err: rn.deleteJob(ctx, n, w)}
						rn.hub.notify()
					}()
				}
			}
			if n.phase < delGone {
				settled = false
			}
		}
		if settled && running == 0 {
			return nil
		}
		next := time.Time{}
		for _, n := range nodes {
			if n.phase == delWaiting && (next.IsZero() || n.deadline.Before(next)) {
				next = n.deadline
			}
		}
		_, err := rn.d.Wait(ctx, strategy.WaitFor{
			Cond: func() (bool, error) {
				return rn.hub.peek() || (!next.IsZero() && !rn.s.cfg.Clock.Now().Before(next)), nil
			},
			Sources: []strategy.Source{rn.hub},
			Recheck: func() time.Time { return next },
		})
		if err != nil {
			return err
		}
	}
}

// deleteJob deletes one object in the background (its dependents go with
// it through the garbage collector), only if it is still the object the
// bundle recorded.
func (rn *run) deleteJob(ctx context.Context, n *delNode, w waiter) error {
	if _, err := rn.caches.get(cacheKey{gvr: n.gvr, namespace: n.ref.Namespace}); err != nil {
		return err
	}
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	if n.uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &n.uid}
	}
	return rn.retry(ctx, n.index, w, nil, func(ctx context.Context) error {
		res := rn.s.clients.Dynamic.Resource(n.gvr)
		var err error
		if n.ref.Namespace != "" {
			err = res.Namespace(n.ref.Namespace).Delete(ctx, n.ref.Name, opts)
		} else {
			err = res.Delete(ctx, n.ref.Name, opts)
		}
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			// Gone, or replaced by another object of the same name,
			// which the watch shows as gone too.
			return nil
		}
		return err
	})
}

// gone reports whether n's object has left its watch cache, or been
// replaced by another of the same name.
func (rn *run) gone(n *delNode) bool {
	c, ok := rn.caches.peek(cacheKey{gvr: n.gvr, namespace: n.ref.Namespace})
	if !ok {
		return false
	}
	live, ok := c.Get(n.ref.Namespace, n.ref.Name)
	return !ok || (n.uid != "" && live.GetUID() != n.uid)
}

// foreignObjects lists objects in namespace ns that would go with it but
// are not among the objects leaving the bundle. Objects with an owner
// (they go with their owner), events, Endpoints, and what every namespace
// gets (its default ServiceAccount, the root CA ConfigMap, token Secrets)
// do not count.
func (rn *run) foreignObjects(ctx context.Context, ns string) ([]Ref, error) {
	if rn.s.clients.Discovery == nil {
		return nil, fmt.Errorf("cannot list what namespace %s holds without a discovery client", ns)
	}
	lists, err := rn.s.clients.Discovery.ServerPreferredNamespacedResources()
	if err != nil {
		return nil, fmt.Errorf("cannot tell what namespace %s holds: %w", ns, err)
	}
	leaving := map[Ref]bool{}
	for _, e := range rn.leaving() {
		leaving[e.ref()] = true
	}
	var out []Ref
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			// Events do not count, nor Endpoints, which mirror Services.
			if strings.Contains(r.Name, "/") || !hasVerb(r.Verbs, "list") || r.Name == "events" || (gv.Group == "" && r.Name == "endpoints") {
				continue
			}
			list, err := rn.s.clients.Dynamic.Resource(gv.WithResource(r.Name)).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, fmt.Errorf("cannot tell what namespace %s holds: listing %s: %w", ns, r.Name, err)
			}
			for k := range list.Items {
				u := &list.Items[k]
				ref := Ref{Group: gv.Group, Kind: r.Kind, Namespace: ns, Name: u.GetName()}
				if leaving[ref] || len(u.GetOwnerReferences()) > 0 || systemObject(ref, u) {
					continue
				}
				out = append(out, ref)
			}
		}
	}
	return out, nil
}

func hasVerb(verbs []string, v string) bool {
	for _, x := range verbs {
		if x == v {
			return true
		}
	}
	return false
}

// systemObject reports whether Kubernetes itself put u in its namespace.
func systemObject(ref Ref, u *unstructured.Unstructured) bool {
	switch {
	case ref.Group == "" && ref.Kind == "ServiceAccount" && ref.Name == "default",
		ref.Group == "" && ref.Kind == "ConfigMap" && ref.Name == "kube-root-ca.crt":
		return true
	case ref.Group == "" && ref.Kind == "Secret":
		return str(u.Object, "type") == "kubernetes.io/service-account-token"
	}
	return false
}

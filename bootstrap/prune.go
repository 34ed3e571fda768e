package bootstrap

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/strategy"
)

// prune deletes the objects that left the bundle and that the bundle may
// delete, dependents first; the others are kept, with the reason.
func (rn *run) prune(ctx context.Context, rep *Report) ([]*delNode, error) {
	// Prune has what is left of the run's timeout.
	lim := limit{until: rn.deadline, after: rn.s.spec.Timeout, overall: true}
	var nodes []*delNode
	var lives []*unstructured.Unstructured
	lctx, stop := rn.until(ctx, lim.until)
	for _, e := range rn.leaving() {
		n, live := rn.pruneCandidate(lctx, e)
		nodes = append(nodes, n)
		lives = append(lives, live)
	}
	stop()
	rn.order(nodes, lives)
	if err := rn.deleteAll(ctx, nodes, EventPruned, lim); err != nil {
		return nil, err
	}
	for _, n := range nodes {
		rep.Objects = append(rep.Objects, n.report(ActionPrune))
	}
	return nodes, nil
}

// pruneCandidate decides whether an object that left the bundle may go,
// and returns its live object when it may. An object it cannot look at
// fails, and is not deleted.
func (rn *run) pruneCandidate(ctx context.Context, e invEntry) (*delNode, *unstructured.Unstructured) {
	n := &delNode{ref: e.ref(), index: -1, uid: e.UID}
	keep := func(forget bool, msg string) (*delNode, *unstructured.Unstructured) {
		n.phase, n.forget, n.msg = delKept, forget, msg
		rn.em.object(ctx, EventKept, n.ref, "left the bundle; kept: "+msg, nil)
		return n, nil
	}
	failed := func(err error) (*delNode, *unstructured.Unstructured) {
		n.phase, n.err = delFailed, &ObjectError{Ref: n.ref, Op: "delete", Err: err}
		rn.em.object(ctx, EventFailed, n.ref, "cannot tell whether it may be pruned", n.err)
		return n, nil
	}
	m, err := rn.s.clients.Mapper.RESTMapping(e.gvk().GroupKind(), e.Version)
	if meta.IsNoMatchError(err) {
		n.phase, n.msg = delGone, "already gone (its kind is no longer served)"
		return n, nil
	}
	if err != nil {
		return failed(fmt.Errorf("finding its resource: %w", err))
	}
	n.gvr = m.Resource
	var c *objcache.Cache[*unstructured.Unstructured]
	err = rn.call(ctx, n.ref, func(context.Context) error {
		c, err = rn.caches.get(cacheKey{gvr: n.gvr, namespace: e.Namespace})
		return err
	})
	if err != nil {
		return failed(err)
	}
	live, ok := c.Get(e.Namespace, e.Name)
	switch {
	case !ok:
		n.phase, n.msg = delGone, "already gone"
		return n, nil
	case !e.Created:
		return keep(true, "the bundle did not create it")
	case live.GetAnnotations()[AnnotationBundle] != rn.b.id:
		return keep(true, "it is no longer annotated as this bundle's")
	case e.UID != "" && live.GetUID() != e.UID:
		return keep(true, "it was replaced since the bundle created it")
	case live.GetDeletionTimestamp() != nil:
		n.phase, n.deleted = delWaiting, rn.s.cfg.Clock.Now()
		n.deadline = n.deleted.Add(rn.s.spec.ObjectTimeout)
		return n, live
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
	return n, live
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

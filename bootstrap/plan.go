package bootstrap

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/strategy"
)

// DryRun reports what Apply would do, object by object, in the order of
// the graph, without writing: each object the cluster serves goes through
// a server-side dry-run apply, and the result is compared with the live
// object (ActionCreate, ActionUnchanged, or ActionConfigure with a Diff).
// Custom resources whose CRD is not installed yet, and objects of
// namespaces the bundle creates, cannot be dry-run; they are reported as
// ActionCreate with a Message naming what they wait for. With Spec.Prune,
// the objects that left the bundle are reported as ActionPrune or
// ActionKeep, in the order they would be deleted.
//
// The Result of the report holds the release's current phase.
func (s *Strategy) DryRun(ctx context.Context, r strategy.Release) (*Report, error) {
	b, err := s.prepare(ctx, r)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rn := newRun(s, b, wctx)
	rn.em.silent = true
	if err := rn.load(ctx); err != nil {
		return nil, err
	}
	rep := &Report{Result: &strategy.Result{Strategy: s.Name(), App: b.rel.App, Revision: b.rel.Revision}}
	st, err := strategy.NewControl(s.clients.Kube, strategy.WithClock(s.cfg.Clock)).Status(ctx, b.rel.App)
	switch {
	case err == nil:
		rep.Result.Phase, rep.Result.Stable = st.Phase, st.Stable
	case !errors.Is(err, strategy.ErrNoRecord):
		return nil, err
	}
	var namespaces *objcache.Cache[*unstructured.Unstructured]
	err = rn.call(ctx, Ref{}, func(context.Context) error {
		var err error
		namespaces, err = rn.caches.get(cacheKey{gvr: corev1.SchemeGroupVersion.WithResource("namespaces")})
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, i := range b.g.order {
		u, ref, info := b.desired[i], b.g.refs[i], b.kinds[i]
		o := ObjectReport{Ref: ref, Index: i, Action: ActionCreate}
		if info.gvr.Empty() {
			o.Message = "after " + b.g.refs[info.crd].String() + " is established"
			rep.Objects = append(rep.Objects, o)
			continue
		}
		if _, ok := namespaces.Get("", u.GetNamespace()); u.GetNamespace() != "" && !ok {
			o.Message = "after Namespace " + u.GetNamespace() + " is created"
			rep.Objects = append(rep.Objects, o)
			continue
		}
		live, _ := rn.live(i)
		var out *unstructured.Unstructured
		err := rn.call(ctx, ref, func(ctx context.Context) error {
			var err error
			out, err = rn.apply(ctx, info.gvr, u, true)
			return err
		})
		switch {
		case live != nil && err != nil:
			o.Action, o.Err = ActionConfigure, err
		case err != nil:
			o.Err = err
		case live == nil:
		default:
			o.Diff = diff(live.Object, out.Object, ref.GroupKind().String() == "Secret")
			o.Action = ActionConfigure
			if o.Diff == "" {
				o.Action = ActionUnchanged
			}
		}
		rep.Objects = append(rep.Objects, o)
	}
	for _, e := range rn.leaving() {
		if s.spec.Prune {
			continue
		}
		rep.Objects = append(rep.Objects, ObjectReport{Ref: e.ref(), Index: -1, Action: ActionKeep, Message: "prune is off"})
	}
	if s.spec.Prune {
		var nodes []*delNode
		var lives []*unstructured.Unstructured
		for _, e := range rn.leaving() {
			n, live := rn.pruneCandidate(ctx, e)
			nodes, lives = append(nodes, n), append(lives, live)
		}
		rn.order(nodes, lives)
		for _, k := range deletionOrder(nodes) {
			rep.Objects = append(rep.Objects, nodes[k].report(ActionPrune))
		}
	}
	return rep, nil
}

// deletionOrder lists the nodes so that each comes after the nodes that
// must be gone before it.
func deletionOrder(nodes []*delNode) []int {
	placed := make([]bool, len(nodes))
	var out []int
	for len(out) < len(nodes) {
		progress := false
		for k, n := range nodes {
			if placed[k] {
				continue
			}
			free := true
			for _, a := range n.after {
				free = free && placed[a]
			}
			if free {
				placed[k], progress = true, true
				out = append(out, k)
			}
		}
		if !progress { // a cycle: the rest in any order
			for k := range nodes {
				if !placed[k] {
					placed[k] = true
					out = append(out, k)
				}
			}
		}
	}
	return out
}

package rbac

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Kind is one resource of a bootstrap bundle, such as
// {Group: "apps", Resource: "deployments"}.
type Kind struct {
	Group    string
	Resource string
	// Cluster grants the kind in the ClusterRole instead of the Role: set
	// it for cluster-scoped resources (namespaces, CRDs, ClusterRoles,
	// PriorityClasses, ...), and for namespaced ones whose objects are in
	// namespaces other than the release's, such as namespaces the bundle
	// creates, where no RoleBinding can exist before the run.
	Cluster bool
}

// Bundle is what a bootstrap release touches, for Bootstrap.
type Bundle struct {
	// Namespace holds the release record and the inventory: the release's
	// App.Namespace.
	Namespace string
	// Kinds are the resources of the bundle's objects, each once.
	Kinds []Kind
	// Prune is set when the bootstrap runs with Spec.Prune, which deletes
	// the objects that left the bundle.
	Prune bool
	// Rollback is set when the bootstrap runs with Spec.Rollback, which
	// deletes the objects a failed run created, Namespaces included.
	Rollback bool
	// DryRun is set when the identity also calls DryRun or Plan, which
	// watch namespaces.
	DryRun bool
}

// Bootstrap returns the Role, in b.Namespace, and the ClusterRole that run
// the bootstrap of b: the release record, the inventory and Events in the
// release's namespace; get on namespaces; and for every kind of the
// bundle, server-side apply (patch, and create for new objects) and the
// watch that waits for readiness (list, watch), plus delete with Prune or
// Rollback.
// The ClusterRole is named after the namespace, so that bundles of
// different namespaces get different ones; the verbs it grants are not
// repeated in the Role.
//
// Not covered: pruning a Namespace needs list on every namespaced resource
// in it, so with these roles prune keeps a Namespace that left the bundle
// (and delete on namespaces is granted only for Rollback); pruning a CRD needs list on
// its custom resources in every namespace, granted when their Kind is
// Cluster; applying Roles, ClusterRoles or their bindings needs the
// permissions they grant, or escalate and bind on roles and clusterroles.
func Bootstrap(b Bundle) (*rbacv1.Role, *rbacv1.ClusterRole) {
	var local, cluster []grant
	for _, g := range bootstrapGrants(b) {
		if g.cluster {
			cluster = append(cluster, g)
		} else {
			local = append(local, g)
		}
	}
	cr := &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: NamePrefix + "bootstrap-" + b.Namespace},
		Rules:      rules(cluster),
	}
	r := role(b.Namespace, "bootstrap", local)
	r.Rules = subtract(r.Rules, cr.Rules)
	return r, cr
}

// subtract removes from rules the verbs that cluster grants on the same
// resource everywhere, the namespace of rules included; a rule left with
// no verbs is dropped.
func subtract(rules, cluster []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		i := slices.IndexFunc(cluster, func(c rbacv1.PolicyRule) bool {
			return c.APIGroups[0] == r.APIGroups[0] && c.Resources[0] == r.Resources[0]
		})
		if i >= 0 {
			r.Verbs = slices.DeleteFunc(slices.Clone(r.Verbs), func(v string) bool { return slices.Contains(cluster[i].Verbs, v) })
		}
		if len(r.Verbs) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// bootstrapGrants is the table's rows for bootstrap and those of b.
func bootstrapGrants(b Bundle) []grant {
	out := grantsOf(partBootstrap)
	if b.DryRun {
		out = append(out, grant{parts: partBootstrap, group: core, resource: "namespaces", verbs: "list watch", cluster: true,
			why: "DryRun and Plan watch namespaces, to tell which the bundle still has to create"})
	}
	for _, k := range b.Kinds {
		g := grant{parts: partBootstrap, group: k.Group, resource: k.Resource, verbs: "list watch create patch", cluster: k.Cluster,
			why: "a kind of the bundle: applied with server-side apply (patch, and create for a new object), watched until ready"}
		namespaces := k.Group == core && k.Resource == "namespaces"
		switch {
		case b.Rollback && b.Prune && !namespaces:
			g.verbs += " delete"
			g.why += "; deleted by prune and rollback"
		case b.Rollback:
			g.verbs += " delete"
			g.why += "; deleted by rollback"
		case b.Prune && !namespaces:
			g.verbs += " delete"
			g.why += "; deleted by prune"
		}
		if b.Prune && namespaces {
			// Prune deletes a Namespace only once it has listed every
			// namespaced resource in it; without that, which these roles
			// do not grant, it keeps the Namespace.
			g.why += "; prune keeps Namespaces: deleting one also takes list on every namespaced resource in it, not granted here"
		}
		out = append(out, g)
	}
	return out
}

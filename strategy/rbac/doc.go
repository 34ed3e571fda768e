// Package rbac states the Kubernetes permissions each part of switchyard
// needs, as Roles and ClusterRoles to create and bind: least privilege,
// with nothing a code path does not use.
//
// The entry points are BlueGreen, Canary (by Router), Rolling and Control,
// which return a namespaced *rbacv1.Role, and Bootstrap, which returns a
// Role and a ClusterRole for a bundle's kinds. RoleBinding,
// ClusterRoleBinding and ServiceAccount bind them; YAML renders them for
// kubectl. All of them come from one table of permissions, each with the
// reason it is needed; docs/rbac.md is generated from it.
//
// # What is checked
//
// The tests of the e2e folder run each part on a real control plane as a
// ServiceAccount bound to exactly these roles, and then again with each
// verb of each rule removed in turn, to show that the release fails at
// once with a forbidden error or a *strategy.WatchError, and so that the
// verb is needed. Events are the exception: writing them is best effort,
// so without create or update on events a release still runs.
//
// # Limits
//
// The roles cover switchyard's own calls. Checks, analyses and custom
// routers bring their own: analysis/kube reads Deployments and pods,
// analysis/job creates Jobs, a custom traffic.Router writes its objects.
// A router whose objects are in another namespace
// (traffic.AllowCrossNamespace) needs its rule there. Reading the app's
// Namespace (flow.CheckNamespace) is optional: a 403 is ignored.
package rbac

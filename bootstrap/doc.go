// Package bootstrap performs the Day 1 install of a cluster's workloads: a
// bundle of manifests applied as a dependency graph with server-side apply,
// each object applied as soon as what it needs is ready and then waited for
// until it is ready itself, so that the cluster ends in the declared state;
// running it again writes nothing.
//
// The entry point is New, which returns a strategy.Strategy. A release's
// Objects are the bundle (ReadFiles, Decode and Objects build it from
// files, directories, readers or Go objects); its App names the bundle and
// the namespace that holds its release record and its inventory; its
// Revision names the version (empty means a digest of the content). Apply
// and DryRun return the outcome object by object; Run and Plan wrap them.
//
// # The graph
//
// Edges are inferred: a custom resource waits for its CRD in the bundle, a
// namespaced object for its Namespace, a workload (Deployment, StatefulSet,
// DaemonSet, ReplicaSet, Job, CronJob, Pod) for the ServiceAccount,
// RoleBindings and ClusterRoleBindings of that account, ConfigMaps,
// Secrets, PersistentVolumeClaims and PriorityClass its pods use, a binding
// for its role and service accounts, a claim for its StorageClass, a
// StatefulSet for its governing Service, and an admission webhook
// configuration or APIService for the Service it calls and the workloads
// behind that Service. AnnotationDependsOn and Spec.Dependencies add
// edges. A cycle is a *strategy.ValidationError naming every edge of it,
// returned before anything is written, as are duplicate objects, unknown
// kinds, missing namespaces and bad dependencies.
//
// # Applying and waiting
//
// Objects are applied with server-side apply under the shared field
// manager (strategy.WithFieldManager), at most Spec.Concurrency at once,
// each as soon as everything it waits for is ready: there are no phases,
// so a slow object holds back only what depends on it. After a CRD is
// established (Established and NamesAccepted) the REST mapper is reset and
// its custom resources go. Conflicts with other field managers fail the
// object unless Spec.ForceConflicts is set.
//
// Readiness follows the kstatus rules (Compute, tested with the cases of
// kstatus's own tests), read from watches, never by polling, with three
// changes: a Job is ready only once complete; a CustomResourceDefinition
// only once its names are accepted too; and a custom resource whose CRD has
// a status subresource only once its controller has written a status, so
// that a wait does not end before the controller has seen the object.
// Spec.Checks replace the rules of a kind with condition matchers, CEL
// expressions over the object, or a Go function. Each object has
// Spec.ObjectTimeout to become ready after its apply and the run has
// Spec.Timeout; a *TimeoutError names the object, its last status and the
// objects that were waiting for it.
//
// A Failed object (its status, or a permanent API error) fails the run at
// once: what depends on it is skipped, each *SkippedError naming the
// failed object, and, unless Spec.KeepGoing, nothing more is applied. With
// Spec.Rollback the objects this run created are then deleted, dependents
// first; the namespace of the release record stays.
//
// # Inventory, idempotence and prune
//
// The inventory, a ConfigMap named InventoryName(app) next to the release
// record, lists the objects the bundle owns: a digest of each manifest as
// applied, a digest of the fields the bundle's field manager owned after
// the apply, the object's UID, and whether the bundle created it. Every
// applied object is also annotated with AnnotationBundle. An object whose
// manifest, UID and owned fields match the inventory is not applied again;
// a run of the same release whose objects all match, are all Current and
// leave nothing to prune writes nothing at all, not even the release
// record. An object edited by hand owns different fields and is applied
// again (with ForceConflicts) or reported as a conflict (without).
//
// With Spec.Prune, after a successful run, objects that left the bundle are
// deleted, dependents first, but only those the bundle created, that still
// carry its annotation and the UID it recorded; a Namespace is deleted only
// when it holds nothing but what is being pruned (objects with an owner,
// events, Endpoints, its default ServiceAccount, root CA ConfigMap and
// token Secrets aside), and a CRD only when all its custom resources are
// being pruned; otherwise they are kept, and tried again by later runs.
//
// # Events
//
// Each object's progress goes to the observer (strategy.WithObserver) as
// EventApplied, EventUnchanged, EventWaiting, EventReady, EventFailed,
// EventSkipped, EventPruned, EventKept and EventDeleted, with the object in
// Event.Object; the run itself reports the shared events (lease, phases, run
// finished) and keeps the outcome in the release record.
//
// # Limits
//
// Objects need a name (generateName cannot be applied twice to the same
// object). An object whose immutable fields change (a Job's template) fails
// with the apiserver's error: it is not replaced. A custom resource whose
// controller writes no status needs a Check. The
// inventory is one ConfigMap, which holds a few thousand objects. Clients
// built from a rest.Config without QPS and Burst are held by client-go to 5
// requests a second, which a large bundle feels: raise them.
package bootstrap

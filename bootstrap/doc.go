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
// kinds, missing namespaces, bad dependencies, an object that depends on
// itself, and a Secret whose data values are not base64.
//
// # Namespaces
//
// An object of a namespaced kind names its namespace, or Spec.Namespace
// names one for the objects that do not: without it they are a
// *strategy.ValidationError. Nothing falls back to "default", since where a
// manifest without a namespace lands depends on who applies it (kubectl
// takes the kubeconfig's). Spec.Namespace is never given to cluster-scoped
// kinds, and the namespace of a cluster-scoped object is dropped, as the
// apiserver drops it.
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
// API errors that say "later" (throttling, unavailability, timeouts,
// resourceVersion conflicts, network errors) are retried with backoff
// until the run's timeout, which then fails the object with a
// *TimeoutError holding the last error. An internal error (500) that
// comes back unchanged five times in a row, such as an admission webhook
// that fails the object or a value the server cannot decode, is not tried
// again: it fails the object with the server's message. Other errors
// (invalid, forbidden, conflicts with other field managers) fail it on
// the first answer.
//
// A Failed object (its status, or an API error as above) fails the run at
// once: what depends on it is skipped, each *SkippedError naming the
// failed object, and, unless Spec.KeepGoing, nothing more is applied. With
// Spec.Rollback the objects this run created are then deleted, dependents
// first, within what is left of Spec.Timeout and at least
// Spec.ObjectTimeout; the namespace of the release record stays.
//
// Only a run that made every object Current (and pruned what it had to)
// succeeds. Any other returns the report and a *FailedError, and its
// record says Failed: an object failed, timed out or was skipped, or the
// caller's context ended, in which case the objects in flight fail with
// the context's error and what the server last said, nothing is rolled
// back, and the last writes get up to a minute of their own. Whichever
// way a run ends, it records how and releases its lease before Apply
// returns, unless another driver took the lease.
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
// Prune has what is left of Spec.Timeout: an object not gone when it runs
// out fails the run with a *TimeoutError, and what waited for it is kept.
//
// # Events
//
// Each object's progress goes to the observer (strategy.WithObserver) as
// EventApplied, EventUnchanged, EventWaiting, EventReady, EventFailed,
// EventSkipped, EventPruned, EventKept and EventDeleted, with the object in
// Event.Object; the run itself reports the shared events (lease, phases, run
// finished) and keeps the outcome in the release record.
//
// # Permissions
//
// Besides patch (server-side apply, dry runs included) on the bundle's
// objects, the identity needs list and watch on every kind of the bundle,
// in each of its namespaces or cluster-wide for cluster-scoped kinds; get
// on the namespaces the bundle uses but does not hold (the release's
// among them); and in the release's namespace get, list, watch, create
// and update on configmaps (the release record and the inventory), and
// create and update on events (unless strategy.WithEvents(false)).
// DryRun also needs list and watch on namespaces, and writes nothing.
// Prune and Rollback need delete on what they remove, and list and watch
// on its kinds; pruning a Namespace needs list on every namespaced
// resource in it, pruning a CRD list on its custom resources everywhere.
// Discovery is read from /api and /apis, open to every authenticated user.
// Creating Roles and bindings takes the permissions they grant, or
// escalate and bind on roles and clusterroles.
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

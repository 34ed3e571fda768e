// Package fake is an in-memory Kubernetes cluster for unit tests: the
// clients a strategy uses, one object store behind them, simulated
// controllers and a fake clock, so that a rollout with an hour of pauses
// runs in milliseconds.
//
// The entry point is NewCluster. Clients returns a typed clientset, a
// dynamic client, a discovery client and a REST mapper over the same store;
// Clock returns the clock every simulated controller runs on; Stop ends it.
//
// # What is simulated
//
//   - The API: get, list, watch, create, update, patch (JSON, merge,
//     strategic merge) and server-side apply with field ownership and
//     conflicts (built-in kinds through the client-go field manager, custom
//     resources with a deduced schema); delete with finalizers, graceful pod
//     deletion and preconditions; deletecollection; status and scale
//     subresources; dry run. Every write bumps one resourceVersion counter;
//     Update with a stale resourceVersion gets 409 Conflict; generation grows
//     on spec changes; uid and creationTimestamp are set on create.
//   - Watches with unbounded queues, label and field selectors, and resume
//     from a resourceVersion (410 Gone once it is older than the last 1024
//     events of the resource).
//   - Deployment, ReplicaSet and pod controllers after the real
//     kube-controller-manager: RollingUpdate (maxSurge rounds up,
//     maxUnavailable down), Recreate, minReadySeconds, pause, scale,
//     revisions, progress deadline and the real condition reasons; pods are
//     bound round-robin to nodes fake-node-0…, get unique IPs in
//     10.244.0.0/14 and turn Ready per the Behavior of their version label.
//   - StatefulSet and Job controllers: a StatefulSet's pods <name>-<ordinal>
//     start in order, each once the one before is Running and Ready
//     (OrderedReady) or all at once (Parallel), go highest first on scale
//     down, and are replaced highest first down to the partition on a
//     template change; claims of its templates are made and bound at once;
//     its status has the counts and revisions the real controller reports.
//     A Job runs up to parallelism pods until completions have succeeded;
//     each pod succeeds WithJobDuration after its creation (exits 1 after
//     its start-up time when its version is CrashLoop, never ends when
//     NeverReady); failed pods are replaced after the real back-off until
//     backoffLimit, and activeDeadlineSeconds applies; the Job gets the
//     real conditions (SuccessCriteriaMet and Complete, FailureTarget and
//     Failed). Their defaulting and immutable fields are enforced.
//   - EndpointSlices for Services with a selector, ClusterIP allocation,
//     garbage collection by owner references (background and orphan),
//     namespace deletion.
//   - CustomResourceDefinitions: once created (as unstructured objects), the
//     fake marks them NamesAccepted and Established and serves their
//     resources through the dynamic client, discovery and, after Reset, the
//     REST mapper.
//   - Fault injection: FailRequests, Conflicts (409 on writes only, as an
//     apiserver gives it), Delay, DropWatches; and Requests, which counts
//     the API calls made through the clients.
//   - A data plane and a metrics source: Traffic, SendLoad and Metrics; see
//     below.
//
// # What is not
//
// No admission webhooks, RBAC, OpenAPI validation, or version conversion
// (each group version is stored on its own). DaemonSet and CronJob objects
// are stored but no controller runs them; StatefulSets keep no
// ControllerRevisions (new pods always get the update revision); a Job's
// failed pods are replaced by new ones whatever their restart policy (a real
// kubelet restarts OnFailure pods in place), and no TTL controller deletes
// finished Jobs. A Service gets
// a single EndpointSlice, however many endpoints. Deployment adoption and
// orphaning by selector, and proportional scaling of a paused deployment
// with several active replica sets (the newest takes the difference), are
// simplified. Clientset's own Tracker is not the store. Traffic is modelled
// as expected shares of steady load, not as individual requests; see below.
//
// # Time and auto-advance
//
// The clock moves only when the test calls Clock.Step or Clock.SetTime, or
// in auto-advance mode (WithAutoAdvance or Clock.SetAutoAdvance). A
// participant, typically a strategy Run, registers with Clock.Track,
// TrackNamed or Join and starts busy; before it blocks on a watch, timer or
// context it calls idle, right after waking it calls busy, and done when it
// finishes. The clock jumps to the next pending timer, firing it and any
// other due at the same instant, when all of these hold at one instant: at
// least one participant is registered; all of them are idle; no AfterFunc
// callback is running; the controllers have no pending or running work; no
// API call is in flight (calls blocked in Delay excepted: they wait on the
// clock, and are back in flight before their timer wakes them); and no
// watch event is pending: queued to a watch and not yet received, or, for a
// consumer that calls EventHandler.Handled, received and not yet handled.
// With no participant, time stands still. WaitIdle waits for the
// controllers, not for the clock.
//
// Nothing in this depends on timing, provided what wakes a participant
// marks it busy first: an AfterFunc callback (callbacks count as pending
// work until they return) or a watch cache's hook, run before the cache
// wakes its waiters and before it calls Handled. Join closes the last
// race, between a wake and the participant going idle: its idle reports
// false, and the participant looks again instead of blocking, when it was
// woken since it last called busy. A callback of a timer the participant
// stopped too late must have returned before it waits again (wait for it
// when Stop reports false), or its late wake leaves it busy while it
// blocks. A check a strategy runs is a participant of its own: busy while
// it runs, waiting from the moment it asks CheckInput.Clock for a timer to
// wait on (After, NewTimer, Tick, Sleep) until the timer fires, or while it
// waits through CheckInput.Idle. A watch cache with no watch open (between
// its list and its watch, or while it watches again) holds the clock, and
// a watch the server closes is pending work until its consumer, if it
// calls Handled, stops it. Code the clock cannot see, such as a goroutine
// woken by a timer channel, can be given a courtesy: before each move the
// clock waits a quiet window of real time (WithQuietWindow; none by
// default) and starts over if anything happened meanwhile.
//
// # Stalls
//
// An auto-advancing clock with participants that sees nothing happen for
// the stall timeout (WithStallTimeout, default DefaultStallTimeout, 10s of
// real time) while it cannot move reports a stall: Clock.Stalled is closed,
// Clock.Stall returns a *StallError, and the report is logged
// (WithStallLog, default log.Printf). It names the participants and
// whether each is busy, the pending timers and who made them, and the
// pending work, such as a watch nobody reads. A test can select on
// Stalled to fail at once with the report instead of at its deadline.
//
// # Traffic and metrics
//
// Traffic answers "which version serves what share of the requests sent to
// this Entry right now?" by reading the objects a real data plane reads.
// A version is the value of the pods' version label (WithVersionLabel).
//
//   - Service: evenly over its ready endpoints (EndpointSlice conditions),
//     so pods that are not Ready, such as those of a NeverReady or CrashLoop
//     version, serve nothing; when none is ready, over its serving
//     terminating endpoints, as kube-proxy does.
//   - HTTPRoute (Gateway API v1): header matches (Exact, RegularExpression),
//     the most specific match winning; backendRefs to Services split by
//     weight; RequestMirror filters.
//   - VirtualService (Istio v1 or v1beta1): the first matching http route
//     (header exact, prefix, regex, presence; withoutHeaders); destination
//     weights; DestinationRule subsets; mirrors.
//   - TrafficSplit (SMI v1alpha2 to v1alpha4): backends split by weight.
//   - Ingress: an NGINX Ingress canary pair, by canary-by-header,
//     canary-by-cookie, then canary-weight.
//
// Router objects are custom resources: create their
// CustomResourceDefinitions first, as on a real cluster. A Share holds
// expected fractions, not random draws; the fraction no ready endpoint
// receives (no route matches, zero weights, a backend without ready
// endpoints) is Share.Unserved and fails.
//
// SendLoad runs a steady load generator on the fake clock: each time the
// clock moves (Step, SetTime or auto-advance), the fake time that has just
// elapsed is booked into Metrics with the share the entry had before the
// move, before the timers due at the new time fire. Each version fails its
// Behavior's ErrorRate of its requests and answers in about its Latency;
// unserved requests are booked as failed under UnservedVersion; mirrored
// copies count for the versions they reach. Metrics reads request and error
// counters (exact expected values), error ratios, request rates and latency
// quantiles per version over windows ending at the clock's now, looking back
// up to an hour in one-second buckets. Latencies are samples (at most 32 per
// version and second, log-normal around Latency), reproducible run to run.
// Neither Traffic nor a load is API traffic: they are not counted in
// Requests, see no injected faults and do not hold auto-advance back.
// Package fakemetrics turns Metrics into analysis providers.
//
// Not modelled: paths, methods, query parameters, ports, ReferenceGrants,
// Gateway and Ingress objects' own readiness, Istio fault injection,
// retries, timeouts, connection draining beyond EndpointSlice conditions,
// session affinity, load-dependent latency or errors, and metrics labels
// other than the version. A step books its whole interval with the share at
// its start: with Step, pods that turn Ready during a step serve from the
// next one; auto-advance moves from timer to timer, so it is exact.
package fake

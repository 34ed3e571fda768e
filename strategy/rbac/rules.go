package rbac

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// part is one identity's job: a strategy (with its router, for canary),
// Control, or bootstrap. A grant names the parts that need it.
type part uint

const (
	partBlueGreen part = 1 << iota
	partReplicaRatio
	partGateway
	partIstio
	partSMI
	partNGINX
	partRolling
	partControl
	partBootstrap
)

// Groups of parts.
const (
	partRouters  = partGateway | partIstio | partSMI | partNGINX
	partCanary   = partReplicaRatio | partRouters
	partSlots    = partBlueGreen | partCanary // the two-slot strategies
	partReleases = partSlots | partRolling | partBootstrap
)

// API groups.
const (
	core        = ""
	apps        = "apps"
	autoscaling = "autoscaling"
	discovery   = "discovery.k8s.io"
)

// grant is one row of the table: verbs on a resource that the parts need,
// and why.
type grant struct {
	parts    part
	group    string
	resource string
	verbs    string // space-separated, in the order of verbOrder
	why      string
	// cluster puts the grant in the ClusterRole (cluster-scoped resources).
	cluster bool
}

// table is every permission switchyard needs, by part: the single source
// of the roles this package returns and of docs/rbac.md. Verbs that no
// code path of a part uses are left out; the real-control-plane tests in
// e2e remove each verb in turn and check that a release then fails.
var table = []grant{
	// The release record, shared by every strategy.
	{parts: partReleases, group: core, resource: "configmaps", verbs: "get list watch create update",
		why: "the release record: read before a run (get), watched while it runs (list, watch), created on the app's first release and written at every step (update)"},
	{parts: partReleases, group: core, resource: "events", verbs: "create update",
		why: "corev1 Events on the release record, counted on one Event when they repeat (update); best effort: without them a release runs and writes no Event; not needed with strategy.WithEvents(false)"},
	{parts: partControl, group: core, resource: "configmaps", verbs: "get list watch update",
		why: "the release record: Status reads it (get); Promote, PromoteFull, Pause, Resume, Abort, Retry and Undo add a request to it (get, update); Await and WaitUnlocked watch it (list, watch)"},

	// The two slots of blue/green and canary releases.
	{parts: partSlots, group: core, resource: "configmaps", verbs: "list create patch delete",
		why: "companion ConfigMaps: read before they are written, to check they carry the app's owner mark (get, granted with the record); applied per revision with server-side apply (patch, and create for a new one); those of the slot's other revisions listed and deleted"},
	{parts: partSlots, group: core, resource: "secrets", verbs: "get list create patch delete",
		why: "companion Secrets, as ConfigMaps; listed at every deploy, even for a release without companions"},
	{parts: partSlots, group: apps, resource: "deployments", verbs: "get list watch create patch",
		why: "the slots' Deployments: read before a slot's first write, to check no foreign Deployment has its name (get); applied with server-side apply (patch, and create for a slot's first), scaled (patch) and watched; blue/green also reads the app's own Deployment on a first release, to adopt it"},
	{parts: partSlots, group: core, resource: "pods", verbs: "list watch patch",
		why: "the slots' pods, watched for readiness; role labels and annotations (ActiveMetadata, PreviewMetadata, CanaryMetadata, StableMetadata) written onto them in place (patch)"},
	{parts: partSlots, group: discovery, resource: "endpointslices", verbs: "list watch",
		why: "the Services' EndpointSlices, watched to see which pods the Services reach"},
	{parts: partSlots, group: core, resource: "services", verbs: "get list watch",
		why: "the app's Services, read at validation (get) and watched"},
	{parts: partBlueGreen | partRouters, group: core, resource: "services", verbs: "patch",
		why: "the selector write that points a Service at a slot"},
	{parts: partBlueGreen | partReplicaRatio, group: core, resource: "services", verbs: "create patch",
		why: "missing Services created with server-side apply: blue/green's preview Service, and the active one when ServicePorts is set; canary's stable Service when ServicePorts is set"},
	{parts: partSlots, group: autoscaling, resource: "horizontalpodautoscalers", verbs: "get patch",
		why: "the app's HorizontalPodAutoscaler, only when the spec names one (Autoscaler): read at validation and when a run starts (get); its scaleTargetRef, and nothing else, moved to the slot that takes the traffic with a merge patch conditional on its resourceVersion (patch)"},

	// The routers of canary releases.
	{parts: partGateway, group: traffic.HTTPRouteGVR.Group, resource: traffic.HTTPRouteGVR.Resource, verbs: "get update",
		why: "the HTTPRoute: read at validation and before each write; its backendRefs' weights, header rules and mirror filters written with Update"},
	{parts: partIstio, group: traffic.VirtualServiceGVR.Group, resource: traffic.VirtualServiceGVR.Resource, verbs: "get update",
		why: "the VirtualService: read at validation and before each write; its route weights, header routes and mirror written with Update"},
	{parts: partSMI, group: traffic.TrafficSplitGVR.Group, resource: traffic.TrafficSplitGVR.Resource, verbs: "get update",
		why: "the TrafficSplit: read at validation and before each write; its backends' weights written with Update"},
	{parts: partNGINX, group: "networking.k8s.io", resource: "ingresses", verbs: "get create update",
		why: "the primary Ingress, read (never written); the canary Ingress <ingress>-canary, created on the first weight and updated after"},

	// Rolling.
	{parts: partRolling, group: apps, resource: "deployments", verbs: "list watch create patch",
		why: "the app's Deployment: applied with server-side apply (patch, and create the first time), paused and rolled back (patch), watched until rolled out"},

	// Bootstrap, besides the bundle's own kinds (see Bundle).
	{parts: partBootstrap, group: core, resource: "configmaps", verbs: "get create update",
		why: "the bundle's inventory, next to the release record"},
	{parts: partBootstrap, group: core, resource: "namespaces", verbs: "get", cluster: true,
		why: "the namespaces the bundle uses but does not hold, the release record's among them, checked before any write"},
}

// verbOrder is the order of verbs in a rule.
var verbOrder = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

func verbRank(v string) int {
	if i := slices.Index(verbOrder, v); i >= 0 {
		return i
	}
	return len(verbOrder)
}

// grantsOf returns the rows of the table that p needs, in table order.
func grantsOf(p part) []grant {
	var out []grant
	for _, g := range table {
		if g.parts&p != 0 {
			out = append(out, g)
		}
	}
	return out
}

// rules merges grants into one PolicyRule per resource, in the order each
// resource first appears, verbs in verbOrder.
func rules(grants []grant) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	index := map[[2]string]int{}
	for _, g := range grants {
		k := [2]string{g.group, g.resource}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, rbacv1.PolicyRule{APIGroups: []string{g.group}, Resources: []string{g.resource}})
		}
		for _, v := range strings.Fields(g.verbs) {
			if !slices.Contains(out[i].Verbs, v) {
				out[i].Verbs = append(out[i].Verbs, v)
			}
		}
	}
	for i := range out {
		slices.SortFunc(out[i].Verbs, func(a, b string) int { return verbRank(a) - verbRank(b) })
	}
	return out
}

package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// NamePrefix starts the name of every Role and ClusterRole this package
// returns.
const NamePrefix = "switchyard-"

// BlueGreen returns the Role that runs blue/green releases of apps in
// namespace: the release record, companion ConfigMaps and Secrets, the
// slots' Deployments, their pods and EndpointSlices, the Services, and
// Events. Undo and Retry need nothing more.
func BlueGreen(namespace string) *rbacv1.Role {
	return role(namespace, "bluegreen", grantsOf(partBlueGreen))
}

// Router is the way a canary release splits traffic, which decides the
// objects its Role covers besides the slots.
type Router string

// The routers of package traffic, and none.
const (
	// ReplicaRatio is a canary without a router: one Service selects both
	// slots and the replica counts make the split.
	ReplicaRatio Router = "replicaratio"
	// GatewayHTTPRoute is traffic.GatewayHTTPRoute: httproutes.
	GatewayHTTPRoute Router = "gatewayhttproute"
	// IstioVirtualService is traffic.IstioVirtualService: virtualservices.
	IstioVirtualService Router = "istiovirtualservice"
	// SMITrafficSplit is traffic.SMITrafficSplit: trafficsplits.
	SMITrafficSplit Router = "smitrafficsplit"
	// NGINXIngress is traffic.NGINXIngress: ingresses, the canary one
	// created.
	NGINXIngress Router = "nginxingress"
	// CustomRouter is a traffic.Router of your own: the Role has what every
	// router needs (the Services' selectors, the slots read at validation);
	// add the rules for your router's objects.
	CustomRouter Router = "custom"
)

var routerParts = map[Router]part{
	ReplicaRatio:        partReplicaRatio,
	GatewayHTTPRoute:    partGateway,
	IstioVirtualService: partIstio,
	SMITrafficSplit:     partSMI,
	NGINXIngress:        partNGINX,
}

// RouterOf returns the Router of r, one of package traffic's routers or
// nil (ReplicaRatio); any other router is CustomRouter.
func RouterOf(r traffic.Router) Router {
	switch r.(type) {
	case nil:
		return ReplicaRatio
	case *traffic.GatewayHTTPRoute:
		return GatewayHTTPRoute
	case *traffic.IstioVirtualService:
		return IstioVirtualService
	case *traffic.SMITrafficSplit:
		return SMITrafficSplit
	case *traffic.NGINXIngress:
		return NGINXIngress
	}
	return CustomRouter
}

// Canary returns the Role that runs canary releases of apps in namespace
// with router: what BlueGreen has for the slots, and the router's objects.
// The router's objects must be in namespace too, as they are unless the
// router was built with traffic.AllowCrossNamespace. A Router value that
// is not one of the constants counts as CustomRouter.
func Canary(namespace string, router Router) *rbacv1.Role {
	if p, ok := routerParts[router]; ok {
		return role(namespace, "canary-"+string(router), grantsOf(p))
	}
	return role(namespace, "canary-"+string(CustomRouter), shared(partRouters))
}

// shared returns the grants that every part of p needs.
func shared(p part) []grant {
	var out []grant
	for _, g := range table {
		if g.parts&p == p {
			out = append(out, g)
		}
	}
	return out
}

// Rolling returns the Role that runs rolling releases (package
// strategy/rolling) of apps in namespace.
func Rolling(namespace string) *rbacv1.Role {
	return role(namespace, "rolling", grantsOf(partRolling))
}

// Control returns the Role of an operator or tool that only controls
// releases in namespace through strategy.Control: Status, Promote,
// PromoteFull, Pause, Resume, Abort, Retry, Undo, Await and WaitUnlocked.
// It reads and writes the release records, and nothing else: the driver
// that runs the release does the rest with its own Role.
func Control(namespace string) *rbacv1.Role {
	return role(namespace, "control", grantsOf(partControl))
}

func role(namespace, name string, grants []grant) *rbacv1.Role {
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Name: NamePrefix + name, Namespace: namespace},
		Rules:      rules(grants),
	}
}

// RoleBinding binds role, in its namespace, to subjects.
func RoleBinding(role *rbacv1.Role, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: role.Namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   subjects,
	}
}

// ClusterRoleBinding binds cr to subjects.
func ClusterRoleBinding(cr *rbacv1.ClusterRole, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: cr.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr.Name},
		Subjects:   subjects,
	}
}

// ServiceAccount is the subject of the service account name in namespace.
func ServiceAccount(namespace, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}
}

package rbac_test

import (
	"fmt"
	"os"

	"github.com/switchyard-dev/switchyard/strategy/rbac"
)

// The Role of an operator who only sends Promote, Abort and the like, bound
// to a ServiceAccount, as YAML for kubectl apply -f.
func ExampleControl() {
	role := rbac.Control("shop")
	binding := rbac.RoleBinding(role, rbac.ServiceAccount("shop", "release-bot"))
	out, err := rbac.YAML(role, binding)
	if err != nil {
		fmt.Println(err)
		return
	}
	os.Stdout.Write(out)
	// Output:
	// apiVersion: rbac.authorization.k8s.io/v1
	// kind: Role
	// metadata:
	//   name: switchyard-control
	//   namespace: shop
	// rules:
	// - apiGroups:
	//   - ""
	//   resources:
	//   - configmaps
	//   verbs:
	//   - get
	//   - list
	//   - watch
	//   - update
	// ---
	// apiVersion: rbac.authorization.k8s.io/v1
	// kind: RoleBinding
	// metadata:
	//   name: switchyard-control
	//   namespace: shop
	// roleRef:
	//   apiGroup: rbac.authorization.k8s.io
	//   kind: Role
	//   name: switchyard-control
	// subjects:
	// - kind: ServiceAccount
	//   name: release-bot
	//   namespace: shop
}

// A bootstrap bundle that creates a Namespace and Deployments in it: the
// Deployments' kind is granted cluster-wide, since no RoleBinding can
// exist in the Namespace before the bundle creates it.
func ExampleBootstrap() {
	role, clusterRole := rbac.Bootstrap(rbac.Bundle{Namespace: "platform", Kinds: []rbac.Kind{
		{Resource: "namespaces", Cluster: true},
		{Group: "apps", Resource: "deployments", Cluster: true},
	}})
	for _, r := range role.Rules {
		fmt.Println("Role", r.Resources, r.Verbs)
	}
	for _, r := range clusterRole.Rules {
		fmt.Println(clusterRole.Name, r.Resources, r.Verbs)
	}
	// Output:
	// Role [configmaps] [get list watch create update]
	// Role [events] [create update]
	// switchyard-bootstrap-platform [namespaces] [get list watch create patch]
	// switchyard-bootstrap-platform [deployments] [list watch create patch]
}

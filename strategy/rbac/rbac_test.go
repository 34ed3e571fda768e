package rbac

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/traffic"
)

// verbs returns the verbs rules grant on group/resource.
func verbs(rules []rbacv1.PolicyRule, group, resource string) []string {
	for _, r := range rules {
		if r.APIGroups[0] == group && r.Resources[0] == resource {
			return r.Verbs
		}
	}
	return nil
}

func TestRoles(t *testing.T) {
	cases := map[string]struct {
		role *rbacv1.Role
		name string
		want map[string][]string // "resource.group" -> verbs; absent resources must not be granted
	}{
		"blue/green": {BlueGreen("shop"), "switchyard-bluegreen", map[string][]string{
			"configmaps":                           {"get", "list", "watch", "create", "update", "patch", "delete"},
			"events":                               {"create", "update"},
			"secrets":                              {"get", "list", "create", "patch", "delete"},
			"deployments.apps":                     {"get", "list", "watch", "create", "patch"},
			"pods":                                 {"list", "watch", "patch"},
			"endpointslices.discovery.k8s.io":      {"list", "watch"},
			"services":                             {"get", "list", "watch", "create", "patch"},
			"horizontalpodautoscalers.autoscaling": {"get", "patch"},
		}},
		"canary, ReplicaRatio": {Canary("shop", ReplicaRatio), "switchyard-canary-replicaratio", map[string][]string{
			"configmaps":                           {"get", "list", "watch", "create", "update", "patch", "delete"},
			"events":                               {"create", "update"},
			"secrets":                              {"get", "list", "create", "patch", "delete"},
			"deployments.apps":                     {"get", "list", "watch", "create", "patch"},
			"pods":                                 {"list", "watch", "patch"},
			"endpointslices.discovery.k8s.io":      {"list", "watch"},
			"services":                             {"get", "list", "watch", "create", "patch"},
			"horizontalpodautoscalers.autoscaling": {"get", "patch"},
		}},
		"canary, Gateway API": {Canary("shop", GatewayHTTPRoute), "switchyard-canary-gatewayhttproute", map[string][]string{
			"configmaps":                           {"get", "list", "watch", "create", "update", "patch", "delete"},
			"events":                               {"create", "update"},
			"secrets":                              {"get", "list", "create", "patch", "delete"},
			"deployments.apps":                     {"get", "list", "watch", "create", "patch"},
			"pods":                                 {"list", "watch", "patch"},
			"endpointslices.discovery.k8s.io":      {"list", "watch"},
			"services":                             {"get", "list", "watch", "patch"},
			"horizontalpodautoscalers.autoscaling": {"get", "patch"},
			"httproutes.gateway.networking.k8s.io": {"get", "update"},
		}},
		"canary, NGINX": {Canary("shop", NGINXIngress), "switchyard-canary-nginxingress", map[string][]string{
			"configmaps":                           {"get", "list", "watch", "create", "update", "patch", "delete"},
			"events":                               {"create", "update"},
			"secrets":                              {"get", "list", "create", "patch", "delete"},
			"deployments.apps":                     {"get", "list", "watch", "create", "patch"},
			"pods":                                 {"list", "watch", "patch"},
			"endpointslices.discovery.k8s.io":      {"list", "watch"},
			"services":                             {"get", "list", "watch", "patch"},
			"horizontalpodautoscalers.autoscaling": {"get", "patch"},
			"ingresses.networking.k8s.io":          {"get", "create", "update"},
		}},
		"rolling": {Rolling("shop"), "switchyard-rolling", map[string][]string{
			"configmaps":       {"get", "list", "watch", "create", "update"},
			"events":           {"create", "update"},
			"deployments.apps": {"list", "watch", "create", "patch"},
		}},
		"control": {Control("shop"), "switchyard-control", map[string][]string{
			"configmaps": {"get", "list", "watch", "update"},
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, c.name, c.role.Name)
			assert.Equal(t, "shop", c.role.Namespace)
			assert.Equal(t, metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}, c.role.TypeMeta)
			got := map[string][]string{}
			for _, r := range c.role.Rules {
				require.Len(t, r.APIGroups, 1)
				require.Len(t, r.Resources, 1)
				key := r.Resources[0]
				if r.APIGroups[0] != "" {
					key += "." + r.APIGroups[0]
				}
				_, dup := got[key]
				assert.False(t, dup, "one rule per resource: %s", key)
				got[key] = r.Verbs
			}
			assert.Empty(t, cmp.Diff(c.want, got))
		})
	}
}

func TestRoutersDifferOnlyInTheirObjects(t *testing.T) {
	objects := map[Router]string{
		GatewayHTTPRoute:    traffic.HTTPRouteGVR.Resource,
		IstioVirtualService: traffic.VirtualServiceGVR.Resource,
		SMITrafficSplit:     traffic.TrafficSplitGVR.Resource,
		NGINXIngress:        "ingresses",
	}
	custom := Canary("shop", CustomRouter).Rules
	for r, res := range objects {
		rules := Canary("shop", r).Rules
		i := slices.IndexFunc(rules, func(p rbacv1.PolicyRule) bool { return p.Resources[0] == res })
		require.GreaterOrEqual(t, i, 0, "%s has a rule for %s", r, res)
		rest := slices.Delete(slices.Clone(rules), i, i+1)
		assert.Equal(t, custom, rest, "%s: besides its object, what every router has", r)
	}
	assert.Equal(t, Canary("shop", CustomRouter), Canary("shop", Router("linkerd")), "an unknown router is a custom one")
	assert.NotContains(t, verbs(custom, "", "services"), "create", "with a router switchyard creates no Service")
}

// customRouter is a router of the caller's own.
type customRouter struct{ traffic.Router }

func TestRouterOf(t *testing.T) {
	var cl strategy.Clients
	key := types.NamespacedName{Namespace: "shop", Name: "web"}
	cases := map[Router]traffic.Router{
		ReplicaRatio:        nil,
		GatewayHTTPRoute:    traffic.NewGatewayHTTPRoute(cl, key, "stable", "canary"),
		IstioVirtualService: traffic.NewIstioVirtualService(cl, key, nil, "stable", "canary"),
		SMITrafficSplit:     traffic.NewSMITrafficSplit(cl, key, "web", "stable", "canary"),
		NGINXIngress:        traffic.NewNGINXIngress(cl, key, "canary"),
		CustomRouter:        customRouter{},
	}
	for want, r := range cases {
		assert.Equal(t, want, RouterOf(r))
	}
}

func TestBootstrap(t *testing.T) {
	b := Bundle{Namespace: "platform", Kinds: []Kind{
		{Resource: "namespaces", Cluster: true},
		{Resource: "configmaps", Cluster: true}, // in namespaces the bundle creates
		{Group: "apps", Resource: "deployments"},
	}}
	role, cr := Bootstrap(b)
	assert.Equal(t, "platform", role.Namespace)
	assert.Equal(t, "switchyard-bootstrap", role.Name)
	assert.Equal(t, "switchyard-bootstrap-platform", cr.Name, "one ClusterRole per release namespace")
	assert.Equal(t, metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"}, cr.TypeMeta)

	assert.Equal(t, []string{"get", "update"}, verbs(role.Rules, "", "configmaps"),
		"the record and inventory verbs the ClusterRole grants everywhere are not repeated")
	assert.Equal(t, []string{"list", "watch", "create", "patch"}, verbs(cr.Rules, "", "configmaps"))
	assert.Equal(t, []string{"create", "update"}, verbs(role.Rules, "", "events"))
	assert.Equal(t, []string{"list", "watch", "create", "patch"}, verbs(role.Rules, "apps", "deployments"))
	assert.Nil(t, verbs(cr.Rules, "apps", "deployments"))
	assert.Equal(t, []string{"get", "list", "watch", "create", "patch"}, verbs(cr.Rules, "", "namespaces"),
		"get for the namespaces the bundle uses, merged with the kind's verbs")

	b.Prune = true
	role, cr = Bootstrap(b)
	assert.Equal(t, []string{"list", "watch", "create", "patch", "delete"}, verbs(role.Rules, "apps", "deployments"))
	assert.Equal(t, []string{"list", "watch", "create", "patch", "delete"}, verbs(cr.Rules, "", "configmaps"))
	assert.NotContains(t, verbs(cr.Rules, "", "namespaces"), "delete", "prune keeps Namespaces with these roles")

	b.Prune, b.Rollback = false, true
	_, cr = Bootstrap(b)
	assert.Equal(t, []string{"get", "list", "watch", "create", "patch", "delete"}, verbs(cr.Rules, "", "namespaces"),
		"rollback deletes the Namespaces the run created")

	role, cr = Bootstrap(Bundle{Namespace: "platform", DryRun: true})
	assert.Equal(t, []string{"get", "list", "watch", "create", "update"}, verbs(role.Rules, "", "configmaps"))
	assert.Equal(t, []string{"get", "list", "watch"}, verbs(cr.Rules, "", "namespaces"))
}

func TestYAML(t *testing.T) {
	role := BlueGreen("shop")
	out, err := YAML(role, ClusterRoleBinding(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, ServiceAccount("shop", "deployer")))
	require.NoError(t, err)
	docs := bytes.Split(out, []byte("---\n"))
	require.Len(t, docs, 2)
	var back rbacv1.Role
	require.NoError(t, yaml.UnmarshalStrict(docs[0], &back))
	assert.Equal(t, role, &back, "the YAML decodes to the same Role")
	assert.NotContains(t, string(out), "creationTimestamp")
	var binding rbacv1.ClusterRoleBinding
	require.NoError(t, yaml.UnmarshalStrict(docs[1], &binding))
	assert.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "c"}, binding.RoleRef)
	assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "shop", Name: "deployer"}}, binding.Subjects)

	// Objects without apiVersion and kind get them from the scheme.
	out, err = YAML(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "bare"}})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(out), "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"), "%s", out)

	_, err = YAML(nil)
	assert.Error(t, err)
	_, err = YAML(&notRegistered{})
	assert.Error(t, err, "a type the scheme does not know")
}

// notRegistered is a runtime.Object of no scheme.
type notRegistered struct{ metav1.TypeMeta }

func (n *notRegistered) DeepCopyObject() runtime.Object { c := *n; return &c }

// TestTableIsWellFormed checks what the table's rows must hold: verbs
// switchyard knows, each once, a reason for each row, and a part.
func TestTableIsWellFormed(t *testing.T) {
	for i, g := range table {
		vs := strings.Fields(g.verbs)
		assert.NotEmpty(t, vs, "row %d", i)
		for _, v := range vs {
			assert.Contains(t, verbOrder, v, "row %d", i)
		}
		assert.Len(t, slices.Compact(slices.Sorted(slices.Values(vs))), len(vs), "row %d repeats a verb", i)
		assert.NotEmpty(t, g.why, "row %d", i)
		assert.NotZero(t, g.parts, "row %d", i)
	}
}

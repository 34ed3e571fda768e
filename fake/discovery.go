package fake

import (
	"context"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	fakediscovery "k8s.io/client-go/discovery/fake"
	k8stesting "k8s.io/client-go/testing"
)

// discoveryClient serves discovery from the cluster's kind registry, so
// resources of CustomResourceDefinitions show up once they are established.
type discoveryClient struct {
	*fakediscovery.FakeDiscovery
	kinds *kinds
}

var _ discovery.DiscoveryInterfaces = (*discoveryClient)(nil)

// ServerVersion is what the fake reports as its version.
var ServerVersion = version.Info{Major: "1", Minor: "37", GitVersion: "v1.37.2", Platform: "linux/amd64"}

func newDiscovery(k *kinds) *discoveryClient {
	v := ServerVersion
	return &discoveryClient{
		FakeDiscovery: &fakediscovery.FakeDiscovery{Fake: &k8stesting.Fake{}, FakedServerVersion: &v},
		kinds:         k,
	}
}

var allVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// snapshot groups the registry by group and version.
func (d *discoveryClient) snapshot() ([]*metav1.APIGroup, []*metav1.APIResourceList) {
	byGV := map[schema.GroupVersion][]metav1.APIResource{}
	versions := map[string][]string{}
	for _, ri := range d.kinds.all() {
		gv := ri.gvr.GroupVersion()
		if _, ok := byGV[gv]; !ok {
			versions[gv.Group] = append(versions[gv.Group], gv.Version)
		}
		byGV[gv] = append(byGV[gv], metav1.APIResource{
			Name: ri.gvr.Resource, SingularName: ri.singular, Namespaced: ri.namespaced,
			Group: gv.Group, Version: gv.Version, Kind: ri.gvk.Kind, Verbs: allVerbs, ShortNames: ri.shortNames,
		})
		if ri.hasStatus {
			byGV[gv] = append(byGV[gv], metav1.APIResource{
				Name: ri.gvr.Resource + "/status", Namespaced: ri.namespaced,
				Kind: ri.gvk.Kind, Verbs: metav1.Verbs{"get", "patch", "update"},
			})
		}
	}
	groupNames := make([]string, 0, len(versions))
	for g := range versions {
		groupNames = append(groupNames, g)
	}
	sort.Slice(groupNames, func(i, j int) bool {
		// The legacy core group comes first, as on a real server.
		if groupNames[i] == "" || groupNames[j] == "" {
			return groupNames[i] == ""
		}
		return groupNames[i] < groupNames[j]
	})
	var groups []*metav1.APIGroup
	var lists []*metav1.APIResourceList
	for _, g := range groupNames {
		vs := versions[g]
		pref := d.kinds.preferredVersion(g, vs)
		sort.Slice(vs, func(i, j int) bool { return vs[i] == pref && vs[j] != pref })
		grp := &metav1.APIGroup{Name: g}
		for _, v := range vs {
			gv := schema.GroupVersion{Group: g, Version: v}
			gvd := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: v}
			grp.Versions = append(grp.Versions, gvd)
			if v == pref {
				grp.PreferredVersion = gvd
			}
			lists = append(lists, &metav1.APIResourceList{GroupVersion: gv.String(), APIResources: byGV[gv]})
		}
		groups = append(groups, grp)
	}
	return groups, lists
}

// ServerGroups returns the served API groups.
func (d *discoveryClient) ServerGroups() (*metav1.APIGroupList, error) {
	groups, _ := d.snapshot()
	out := &metav1.APIGroupList{}
	for _, g := range groups {
		out.Groups = append(out.Groups, *g)
	}
	return out, nil
}

// ServerGroupsWithContext is ServerGroups.
func (d *discoveryClient) ServerGroupsWithContext(context.Context) (*metav1.APIGroupList, error) {
	return d.ServerGroups()
}

// ServerResourcesForGroupVersion returns the resources of one group version.
func (d *discoveryClient) ServerResourcesForGroupVersion(groupVersion string) (*metav1.APIResourceList, error) {
	_, lists := d.snapshot()
	for _, l := range lists {
		if l.GroupVersion == groupVersion {
			return l, nil
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: groupVersion}, "")
}

// ServerResourcesForGroupVersionWithContext is ServerResourcesForGroupVersion.
func (d *discoveryClient) ServerResourcesForGroupVersionWithContext(_ context.Context, gv string) (*metav1.APIResourceList, error) {
	return d.ServerResourcesForGroupVersion(gv)
}

// ServerGroupsAndResources returns every group and its resources.
func (d *discoveryClient) ServerGroupsAndResources() ([]*metav1.APIGroup, []*metav1.APIResourceList, error) {
	groups, lists := d.snapshot()
	return groups, lists, nil
}

// ServerGroupsAndResourcesWithContext is ServerGroupsAndResources.
func (d *discoveryClient) ServerGroupsAndResourcesWithContext(context.Context) ([]*metav1.APIGroup, []*metav1.APIResourceList, error) {
	return d.ServerGroupsAndResources()
}

// ServerPreferredResources returns the resources of preferred versions.
func (d *discoveryClient) ServerPreferredResources() ([]*metav1.APIResourceList, error) {
	return discovery.ServerPreferredResources(d)
}

// ServerPreferredResourcesWithContext is ServerPreferredResources.
func (d *discoveryClient) ServerPreferredResourcesWithContext(context.Context) ([]*metav1.APIResourceList, error) {
	return d.ServerPreferredResources()
}

// ServerPreferredNamespacedResources returns the namespaced preferred ones.
func (d *discoveryClient) ServerPreferredNamespacedResources() ([]*metav1.APIResourceList, error) {
	return discovery.ServerPreferredNamespacedResources(d)
}

// ServerPreferredNamespacedResourcesWithContext is ServerPreferredNamespacedResources.
func (d *discoveryClient) ServerPreferredNamespacedResourcesWithContext(context.Context) ([]*metav1.APIResourceList, error) {
	return d.ServerPreferredNamespacedResources()
}

// WithLegacy returns the client itself.
func (d *discoveryClient) WithLegacy() discovery.DiscoveryInterface { return d }

// WithLegacyWithContext returns the client itself.
func (d *discoveryClient) WithLegacyWithContext(context.Context) discovery.DiscoveryInterfaceWithContext {
	return d
}

package strategy

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Clients are the API clients a strategy talks to one cluster with. Kube is
// required; the others are needed only by strategies and routers that work
// with custom resources (Gateway API, Istio, SMI) or arbitrary manifests.
type Clients struct {
	Kube      kubernetes.Interface
	Dynamic   dynamic.Interface
	Discovery discovery.DiscoveryInterface
	// Mapper maps kinds to resources. A ResettableRESTMapper is reset after
	// a CustomResourceDefinition is installed, so new kinds are found.
	Mapper meta.ResettableRESTMapper
}

// NewClients builds Clients for a real cluster from a *rest.Config, with a
// deferred, discovery-backed REST mapper.
func NewClients(cfg *rest.Config) (Clients, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Clients{}, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Clients{}, err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return Clients{}, err
	}
	cached := memory.NewMemCacheClient(disc)
	return Clients{
		Kube:      kube,
		Dynamic:   dyn,
		Discovery: cached,
		Mapper:    restmapper.NewDeferredDiscoveryRESTMapper(cached),
	}, nil
}

package strategy

import (
	"errors"

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

// Client-side rate limits NewClients uses when the config sets none
// (client-go's own default, 5 requests/s with bursts of 10, would pace a
// release at 200 ms a request). Argo Rollouts uses the same.
const (
	DefaultQPS   = 40
	DefaultBurst = 80
)

// NewClients builds Clients for a real cluster from a *rest.Config, with a
// deferred, discovery-backed REST mapper. A config with no rate limit
// (QPS and Burst zero, and no RateLimiter) gets DefaultQPS and
// DefaultBurst; set them on cfg to choose others.
func NewClients(cfg *rest.Config) (Clients, error) {
	if cfg == nil {
		return Clients{}, errors.New("strategy.NewClients: no *rest.Config (load one with k8s.io/client-go/tools/clientcmd)")
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg.QPS = DefaultQPS
	}
	if cfg.Burst == 0 && cfg.RateLimiter == nil {
		cfg.Burst = DefaultBurst
	}
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

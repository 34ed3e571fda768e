package flow

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-dev/switchyard/internal/shared"
	"github.com/switchyard-dev/switchyard/strategy"
)

// GetService reads Service ns/name for a strategy's checks before its
// first write: from the shared watches when cfg has them (strategy.WithWatches)
// and they hold it, otherwise with a GET, retrying transient errors. The
// result is shared with the cache: callers must not modify it.
func GetService(ctx context.Context, cfg strategy.Config, kube kubernetes.Interface, ns, name string) (*corev1.Service, error) {
	if res := shared.Of(cfg.Watches); res != nil && res.Caches.Kube == kube {
		if c, err := res.Caches.Services(ctx, ns); err == nil {
			if svc, ok := c.Get(ns, name); ok {
				return svc, nil
			}
		}
	}
	var svc *corev1.Service
	err := cfg.Retry(ctx, func(ctx context.Context) error {
		var err error
		svc, err = kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		return err
	})
	return svc, err
}

// CheckNamespaceOnce is CheckNamespace, skipped when cfg's shared watches
// already watch release records in ns: a Run of this process has found
// the namespace before, and a namespace deleted since fails the first
// write instead.
func CheckNamespaceOnce(ctx context.Context, cfg strategy.Config, kube kubernetes.Interface, ns string, v *strategy.Validator) error {
	if res := shared.Of(cfg.Watches); res != nil && res.Caches.Kube == kube && res.Caches.WatchesRecords(ns) {
		return nil
	}
	return cfg.Retry(ctx, func(ctx context.Context) error {
		return CheckNamespace(ctx, kube, ns, v)
	})
}

package e2ekit

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// CRDs is the resource of CustomResourceDefinitions.
var CRDs = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InstallCRD creates crd unless it exists and waits, on a watch, until it
// is Established.
func InstallCRD(ctx context.Context, dyn dynamic.Interface, crd *unstructured.Unstructured) error {
	if _, err := dyn.Resource(CRDs).Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating CRD %s: %w", crd.GetName(), err)
	}
	return WaitEstablished(ctx, dyn, crd.GetName())
}

// WaitEstablished waits, on a watch of the CRD, until it has condition
// Established=True or ctx ends.
func WaitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	res := dyn.Resource(CRDs)
	for {
		u, err := res.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if established(u) {
			return nil
		}
		w, err := res.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
			ResourceVersion: u.GetResourceVersion(),
		})
		if err != nil {
			return err
		}
		done := func() bool {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return false
				case ev, ok := <-w.ResultChan():
					if !ok || ev.Type == watch.Error {
						return false // get and watch again
					}
					if u, ok := ev.Object.(*unstructured.Unstructured); ok && established(u) {
						return true
					}
				}
			}
		}()
		if done {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for CRD %s to be Established: %w", name, ctx.Err())
		}
	}
}

func established(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}

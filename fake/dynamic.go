package fake

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// dynamicClient is the cluster's dynamic.Interface. Unlike
// k8s.io/client-go/dynamic/fake it serves resources learnt at run time from
// CustomResourceDefinitions, and it shares the typed clientset's store.
type dynamicClient struct {
	c        *Cluster
	internal bool // see request.internal
}

var (
	_ dynamic.Interface                      = dynamicClient{}
	_ dynamic.NamespaceableResourceInterface = dynamicResource{}
)

// Resource returns a client for gvr.
func (d dynamicClient) Resource(gvr schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	return dynamicResource{c: d.c, gvr: gvr, internal: d.internal}
}

// IsWatchListSemanticsUnSupported tells informers to list, then watch.
func (dynamicClient) IsWatchListSemanticsUnSupported() bool { return true }

type dynamicResource struct {
	c        *Cluster
	gvr      schema.GroupVersionResource
	ns       string
	internal bool
}

func (r dynamicResource) Namespace(ns string) dynamic.ResourceInterface {
	r.ns = ns
	return r
}

func (r dynamicResource) req(verb string, subresources []string) *request {
	return &request{verb: verb, gvr: r.gvr, ns: r.ns, sub: strings.Join(subresources, "/"), unstructured: true, internal: r.internal}
}

func (r dynamicResource) do(ctx context.Context, q *request) (*unstructured.Unstructured, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	obj, err := r.c.serve(q)
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, nil
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("fake: unexpected %T from %s %s", obj, q.verb, q.gvr.Resource)
	}
	return u, nil
}

func (r dynamicResource) Create(ctx context.Context, obj *unstructured.Unstructured, opts metav1.CreateOptions, sub ...string) (*unstructured.Unstructured, error) {
	q := r.req("create", sub)
	q.obj, q.createOpts = obj, opts
	if len(sub) > 0 {
		q.name = obj.GetName()
	}
	return r.do(ctx, q)
}

func (r dynamicResource) Update(ctx context.Context, obj *unstructured.Unstructured, opts metav1.UpdateOptions, sub ...string) (*unstructured.Unstructured, error) {
	q := r.req("update", sub)
	q.obj, q.updateOpts, q.name = obj, opts, obj.GetName()
	return r.do(ctx, q)
}

func (r dynamicResource) UpdateStatus(ctx context.Context, obj *unstructured.Unstructured, opts metav1.UpdateOptions) (*unstructured.Unstructured, error) {
	return r.Update(ctx, obj, opts, "status")
}

func (r dynamicResource) Delete(ctx context.Context, name string, opts metav1.DeleteOptions, sub ...string) error {
	q := r.req("delete", sub)
	q.name, q.deleteOpts = name, opts
	_, err := r.do(ctx, q)
	return err
}

func (r dynamicResource) DeleteCollection(ctx context.Context, opts metav1.DeleteOptions, listOpts metav1.ListOptions) error {
	q := r.req("deletecollection", nil)
	q.deleteOpts, q.listOpts = opts, listOpts
	_, err := r.do(ctx, q)
	return err
}

func (r dynamicResource) Get(ctx context.Context, name string, opts metav1.GetOptions, sub ...string) (*unstructured.Unstructured, error) {
	q := r.req("get", sub)
	q.name = name
	return r.do(ctx, q)
}

func (r dynamicResource) List(ctx context.Context, opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := r.req("list", nil)
	q.listOpts = opts
	obj, err := r.c.serve(q)
	if err != nil {
		return nil, err
	}
	l, ok := obj.(*unstructured.UnstructuredList)
	if !ok {
		return nil, fmt.Errorf("fake: unexpected %T from list %s", obj, r.gvr.Resource)
	}
	return l, nil
}

func (r dynamicResource) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q := r.req("watch", nil)
	q.listOpts = opts
	return r.c.serveWatch(q)
}

func (r dynamicResource) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, sub ...string) (*unstructured.Unstructured, error) {
	q := r.req("patch", sub)
	q.name, q.pt, q.data, q.patchOpts = name, pt, data, opts
	return r.do(ctx, q)
}

func (r dynamicResource) Apply(ctx context.Context, name string, obj *unstructured.Unstructured, opts metav1.ApplyOptions, sub ...string) (*unstructured.Unstructured, error) {
	data, err := runtime.Encode(unstructured.UnstructuredJSONScheme, obj)
	if err != nil {
		return nil, apierrors.NewBadRequest("encoding apply configuration: " + err.Error())
	}
	force := opts.Force
	return r.Patch(ctx, name, types.ApplyPatchType, data, metav1.PatchOptions{
		DryRun: opts.DryRun, Force: &force, FieldManager: opts.FieldManager,
	}, sub...)
}

func (r dynamicResource) ApplyStatus(ctx context.Context, name string, obj *unstructured.Unstructured, opts metav1.ApplyOptions) (*unstructured.Unstructured, error) {
	return r.Apply(ctx, name, obj, opts, "status")
}

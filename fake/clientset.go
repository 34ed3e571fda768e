package fake

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// kube is the typed client handed out by Clients: the fake clientset with
// the cluster's discovery, which learns CustomResourceDefinitions.
type kube struct {
	*k8sfake.Clientset
	disc *discoveryClient
}

// Discovery returns the cluster's discovery client.
func (k *kube) Discovery() discovery.DiscoveryInterfaces { return k.disc }

// react serves the typed clientset's actions from the cluster's store.
func (c *Cluster) react(action k8stesting.Action) (bool, runtime.Object, error) {
	return c.reactAs(action, false)
}

// reactInternal serves the cluster's own typed reads (see request.internal).
func (c *Cluster) reactInternal(action k8stesting.Action) (bool, runtime.Object, error) {
	return c.reactAs(action, true)
}

func (c *Cluster) reactAs(action k8stesting.Action, internal bool) (bool, runtime.Object, error) {
	r := &request{
		verb: action.GetVerb(), gvr: action.GetResource(),
		ns: action.GetNamespace(), sub: action.GetSubresource(),
		internal: internal,
	}
	switch a := action.(type) {
	case k8stesting.GetActionImpl:
		r.name = a.Name
	case k8stesting.ListActionImpl:
		r.listOpts = a.ListOptions
	case k8stesting.CreateActionImpl:
		r.obj, r.createOpts, r.name = a.Object, a.CreateOptions, a.Name
	case k8stesting.UpdateActionImpl:
		r.obj, r.updateOpts = a.Object, a.UpdateOptions
	case k8stesting.PatchActionImpl:
		r.name, r.pt, r.data, r.patchOpts = a.Name, a.PatchType, a.Patch, a.PatchOptions
	case k8stesting.DeleteActionImpl:
		r.name, r.deleteOpts = a.Name, a.DeleteOptions
	case k8stesting.DeleteCollectionActionImpl:
		r.listOpts, r.deleteOpts = a.ListOptions, a.DeleteOptions
	default:
		return true, nil, fmt.Errorf("fake: %s %s is not supported", action.GetVerb(), action.GetResource().Resource)
	}
	if r.sub != "" && r.name == "" {
		if m, err := metaOf(r.obj); err == nil {
			r.name = m
		}
	}
	obj, err := c.serve(r)
	return true, obj, err
}

// reactWatch serves the typed clientset's watches.
func (c *Cluster) reactWatch(action k8stesting.Action) (bool, watch.Interface, error) {
	r := &request{verb: "watch", gvr: action.GetResource(), ns: action.GetNamespace()}
	if a, ok := action.(k8stesting.WatchActionImpl); ok {
		r.listOpts = a.ListOptions
		if r.listOpts.ResourceVersion == "" {
			r.listOpts.ResourceVersion = a.WatchRestrictions.ResourceVersion
		}
	}
	w, err := c.serveWatch(r)
	if err != nil {
		return true, nil, err
	}
	return true, w, nil
}

func metaOf(obj runtime.Object) (string, error) {
	if obj == nil {
		return "", fmt.Errorf("no object")
	}
	return nameOf(obj), nil
}

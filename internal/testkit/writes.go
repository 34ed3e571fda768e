package testkit

import (
	"encoding/json"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/switchyard-dev/switchyard/fake"
)

// Write is one write made through a fake cluster's clients.
type Write struct {
	Verb, Resource, Subresource, Name string
	// Patch is the body of a patch, "" for other verbs.
	Patch string
}

func (w Write) String() string {
	s := fmt.Sprintf("%s %s/%s", w.Verb, w.Resource, w.Name)
	if w.Subresource != "" {
		s += "/" + w.Subresource
	}
	return s
}

// WriteLog records, in order, the writes made through a fake cluster's
// clients to Deployments and HorizontalPodAutoscalers.
type WriteLog struct {
	mu     sync.Mutex
	writes []Write
}

// Install starts recording c's writes.
func (l *WriteLog) Install(c *fake.Cluster) {
	c.Clientset().PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		res := a.GetResource().Resource
		switch a.GetVerb() {
		case "create", "update", "patch", "delete":
		default:
			return false, nil, nil
		}
		if res != "deployments" && res != "horizontalpodautoscalers" {
			return false, nil, nil
		}
		w := Write{Verb: a.GetVerb(), Resource: res, Subresource: a.GetSubresource()}
		switch a := a.(type) {
		case k8stesting.PatchAction:
			w.Name, w.Patch = a.GetName(), string(a.GetPatch())
		case k8stesting.UpdateAction:
			w.Name = nameOf(a.GetObject())
		case k8stesting.CreateAction:
			w.Name = nameOf(a.GetObject())
		case k8stesting.DeleteAction:
			w.Name = a.GetName()
		}
		l.mu.Lock()
		l.writes = append(l.writes, w)
		l.mu.Unlock()
		return false, nil, nil
	})
}

func nameOf(obj runtime.Object) string {
	if m, ok := obj.(interface{ GetName() string }); ok {
		return m.GetName()
	}
	return ""
}

// Writes returns the writes recorded so far.
func (l *WriteLog) Writes() []Write {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Write(nil), l.writes...)
}

// ToScaled returns the writes to the Deployment an autoscaler scaled at
// the time, following its scaleTargetRef from scaled through the patches
// of the log: the writes that would fight it.
func (l *WriteLog) ToScaled(scaled string) []Write {
	var out []Write
	for _, w := range l.Writes() {
		switch w.Resource {
		case "horizontalpodautoscalers":
			var p struct {
				Spec struct {
					ScaleTargetRef struct{ Name string } `json:"scaleTargetRef"`
				} `json:"spec"`
			}
			if json.Unmarshal([]byte(w.Patch), &p) == nil && p.Spec.ScaleTargetRef.Name != "" {
				scaled = p.Spec.ScaleTargetRef.Name
			}
		case "deployments":
			if w.Name == scaled && w.Subresource != "status" {
				out = append(out, w)
			}
		}
	}
	return out
}

// Count returns how many writes of resource the log holds.
func (l *WriteLog) Count(resource string) int {
	n := 0
	for _, w := range l.Writes() {
		if w.Resource == resource {
			n++
		}
	}
	return n
}

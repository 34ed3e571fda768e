package fake

import (
	"fmt"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
)

type faultKind int

const (
	faultFail faultKind = iota
	faultConflict
	faultDelay
)

// fault is one injected behaviour for matching requests.
type fault struct {
	verb, resource string
	kind           faultKind
	err            error
	delay          time.Duration
	left           int // calls left; <= 0 means until cleared
}

func (f *fault) matches(r *request) bool {
	verbOK := f.verb == "*" || f.verb == r.verb || (f.verb == "apply" && r.verb == "patch" && r.pt == types.ApplyPatchType)
	resOK := f.resource == "*" || f.resource == r.gvr.Resource || f.resource == r.resource()
	return verbOK && resOK && (f.kind != faultConflict || conflictable(r))
}

// conflictable reports whether an apiserver can answer r with 409: a
// write that names a version to meet (update, patch, server-side apply,
// a create whose name is taken, a delete with preconditions). Reads,
// watches and deletecollection never conflict.
func conflictable(r *request) bool {
	switch r.verb {
	case "update", "patch":
		return true
	case "create":
		return r.sub == ""
	case "delete":
		p := r.deleteOpts.Preconditions
		return p != nil && (p.UID != nil || p.ResourceVersion != nil)
	}
	return false
}

// conflictError is the 409 an apiserver returns for r: AlreadyExists for
// a create, Conflict otherwise.
func conflictError(r *request) error {
	if r.verb == "create" {
		name := r.name
		if name == "" && r.obj != nil {
			name = nameOf(r.obj)
		}
		return apierrors.NewAlreadyExists(r.gvr.GroupResource(), name)
	}
	return apierrors.NewConflict(r.gvr.GroupResource(), r.name,
		fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
}

// faults is a chain of hooks, newest first. A hook that does not match a
// request passes it on; a delay passes it on after the delay.
type faults struct {
	mu    sync.Mutex
	chain []*fault
}

func (fs *faults) push(f *fault) {
	fs.mu.Lock()
	fs.chain = append([]*fault{f}, fs.chain...)
	fs.mu.Unlock()
}

func (fs *faults) clear() {
	fs.mu.Lock()
	fs.chain = nil
	fs.mu.Unlock()
}

// take reports whether f still applies and uses up one of its calls.
func (fs *faults) take(f *fault) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	idx := -1
	for i, g := range fs.chain {
		if g == f {
			idx = i
		}
	}
	if idx < 0 {
		return false
	}
	if f.left > 0 {
		f.left--
		if f.left == 0 {
			fs.chain = append(fs.chain[:idx], fs.chain[idx+1:]...)
		}
	}
	return true
}

// check runs r through the chain; it returns the injected error, if any.
func (fs *faults) check(c *Cluster, r *request) error {
	fs.mu.Lock()
	chain := append([]*fault(nil), fs.chain...)
	fs.mu.Unlock()
	for _, f := range chain {
		if !f.matches(r) || !fs.take(f) {
			continue
		}
		switch f.kind {
		case faultDelay:
			// A delayed call waits on the fake clock, so it does not hold
			// auto-advance back; the timer's callback puts it back in
			// flight before it wakes it, so the clock cannot move on
			// before the call goes on.
			c.inflight.Add(-1)
			resumed := make(chan struct{})
			t := c.clock.AfterFunc(f.delay, func() {
				c.inflight.Add(1)
				close(resumed)
			})
			c.clock.adv.bump()
			select {
			case <-resumed:
			case <-c.stopCh:
				if t.Stop() {
					c.inflight.Add(1)
					c.clock.adv.bump()
				} else {
					<-resumed
				}
			}
		case faultConflict:
			return conflictError(r)
		default:
			return f.err
		}
	}
	return nil
}

// FailRequests makes requests matching verb and resource fail with err,
// for the next times calls (times <= 0: until ClearFaults). "*" matches any
// verb or resource; verb "apply" matches server-side apply patches only;
// a resource may name a subresource ("deployments/status").
func (c *Cluster) FailRequests(verb, resource string, err error, times int) {
	if err == nil {
		err = apierrors.NewInternalError(fmt.Errorf("injected failure"))
	}
	c.faults.push(&fault{verb: verb, resource: resource, kind: faultFail, err: err, left: times})
}

// Conflicts makes the next times matching writes fail with 409, as when
// another writer got there first (times <= 0: until ClearFaults): update,
// patch and server-side apply get Conflict, create gets AlreadyExists,
// delete gets Conflict when it has preconditions (UID or resourceVersion).
// Reads, watches, deletecollection, deletes without preconditions and
// subresource creates (eviction) are never affected, whatever verb
// matches them, and do not use up times.
func (c *Cluster) Conflicts(verb, resource string, times int) {
	c.faults.push(&fault{verb: verb, resource: resource, kind: faultConflict, left: times})
}

// Delay makes matching requests take d of fake time: each blocks until the
// clock has passed d, then goes on down the chain. Under auto-advance a
// delayed call does not count as in flight, so the clock moves on to it.
func (c *Cluster) Delay(verb, resource string, d time.Duration) {
	c.faults.push(&fault{verb: verb, resource: resource, kind: faultDelay, delay: d})
}

// DropWatches closes every open watch of resource ("*" for all), as an
// apiserver restart or a proxy timeout would; clients must watch again.
func (c *Cluster) DropWatches(resource string) {
	c.store.dropWatches(resource)
}

// ClearFaults removes every injected fault.
func (c *Cluster) ClearFaults() { c.faults.clear() }

// RequestKey names a kind of API request.
type RequestKey struct {
	Verb     string // get, list, watch, create, update, patch, delete, deletecollection
	Resource string // "deployments", or "deployments/status" for a subresource
}

// RequestCounts counts API requests made through the cluster's clients.
type RequestCounts map[RequestKey]int

// Total returns the number of requests of every kind.
func (rc RequestCounts) Total() int {
	n := 0
	for _, v := range rc {
		n += v
	}
	return n
}

// Count returns the number of requests with this verb and resource; "*"
// matches any, and a resource without a subresource counts its
// subresources too.
func (rc RequestCounts) Count(verb, resource string) int {
	n := 0
	for k, v := range rc {
		res, _ := splitResource(k.Resource)
		if (verb == "*" || verb == k.Verb) && (resource == "*" || resource == k.Resource || resource == res) {
			n += v
		}
	}
	return n
}

// String lists the counts, sorted, one "verb resource: n" per line.
func (rc RequestCounts) String() string {
	keys := make([]RequestKey, 0, len(rc))
	for k := range rc {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Resource != keys[j].Resource {
			return keys[i].Resource < keys[j].Resource
		}
		return keys[i].Verb < keys[j].Verb
	})
	out := ""
	for _, k := range keys {
		out += fmt.Sprintf("%s %s: %d\n", k.Verb, k.Resource, rc[k])
	}
	return out
}

type counter struct {
	mu sync.Mutex
	m  RequestCounts
}

func (c *counter) add(verb, resource string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = RequestCounts{}
	}
	c.m[RequestKey{Verb: verb, Resource: resource}]++
	c.mu.Unlock()
}

func (c *counter) snapshot(reset bool) RequestCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(RequestCounts, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	if reset {
		c.m = nil
	}
	return out
}

// Requests returns the API requests made through Clients and Clientset so
// far, by verb and resource. The fake's own controllers are not counted.
func (c *Cluster) Requests() RequestCounts { return c.counts.snapshot(false) }

// ResetRequests returns the counts like Requests and sets them to zero.
func (c *Cluster) ResetRequests() RequestCounts { return c.counts.snapshot(true) }

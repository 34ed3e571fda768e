package store

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// local is the process-wide register of apps a driver of this process is
// running, so that two Runs in one process never act on one app at once,
// even under the same identity (which lets a restarted process take over
// at once).
var local = struct {
	sync.Mutex
	held map[string]chan struct{}
}{held: map[string]chan struct{}{}}

func localKey(kube kubernetes.Interface, app types.NamespacedName, identity string) string {
	return fmt.Sprintf("%p/%s/%s", kube, app, identity)
}

// HoldLocally claims app for a driver of this process under identity. It
// returns nil when another driver of the process holds it under the same
// identity; drivers of different identities are kept apart by the lease.
func HoldLocally(kube kubernetes.Interface, app types.NamespacedName, identity string) (unlock func()) {
	key := localKey(kube, app, identity)
	local.Lock()
	defer local.Unlock()
	if _, ok := local.held[key]; ok {
		return nil
	}
	ch := make(chan struct{})
	local.held[key] = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			local.Lock()
			delete(local.held, key)
			local.Unlock()
			close(ch)
		})
	}
}

// WaitLocal waits until no driver of this process holds app under
// identity.
func WaitLocal(ctx context.Context, kube kubernetes.Interface, app types.NamespacedName, identity string, idle, busy func()) error {
	local.Lock()
	ch, ok := local.held[localKey(kube, app, identity)]
	local.Unlock()
	if !ok {
		return nil
	}
	idle()
	defer busy()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

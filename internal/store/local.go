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
	held map[string]*localHold
}{held: map[string]*localHold{}}

// localHold is one app held by a driver of this process: ch is closed
// when it lets go, after the waiters' wakes ran.
type localHold struct {
	ch    chan struct{}
	wakes []func()
}

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
	h := &localHold{ch: make(chan struct{})}
	local.held[key] = h
	var once sync.Once
	return func() {
		once.Do(func() {
			local.Lock()
			delete(local.held, key)
			wakes := h.wakes
			h.wakes = nil
			local.Unlock()
			// Waiters are marked busy before they wake, so that an
			// auto-advancing fake clock cannot move in between.
			for _, wake := range wakes {
				wake()
			}
			close(h.ch)
		})
	}
}

// WaitLocal waits until no driver of this process holds app under
// identity. The caller is a participant of an auto-advancing clock, with
// the functions of fake.Clock.Join: the driver letting go calls wake
// before it wakes the caller; idle reports false when the caller was woken
// since it last called busy, and the caller looks again.
func WaitLocal(ctx context.Context, kube kubernetes.Interface, app types.NamespacedName, identity string, idle func() bool, busy, wake func()) error {
	key := localKey(kube, app, identity)
	for {
		busy()
		local.Lock()
		h, ok := local.held[key]
		if ok {
			h.wakes = append(h.wakes, wake)
		}
		local.Unlock()
		if !ok {
			return nil
		}
		if idle() {
			select {
			case <-h.ch:
			case <-ctx.Done():
			}
		}
		if err := ctx.Err(); err != nil {
			busy()
			return err
		}
	}
}

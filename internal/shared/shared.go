// Package shared is what a strategy.Watches holds for the Runs of a
// process: the watch caches and the corev1 Event sink. Package strategy
// builds it; drivers and strategies reach it through Of.
package shared

import (
	"sync"

	"github.com/switchyard-dev/switchyard/internal/events"
	"github.com/switchyard-dev/switchyard/internal/objcache"
)

// Resources are the caches and the Event sink Runs share.
type Resources struct {
	Caches *objcache.Layer

	mu     sync.Mutex
	sink   *events.Sink
	closed bool
}

// New returns Resources over caches.
func New(caches *objcache.Layer) *Resources { return &Resources{Caches: caches} }

// Events returns the Event sink, started on first use; nil after Close.
func (r *Resources) Events() *events.Sink {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	if r.sink == nil {
		r.sink = events.New(r.Caches.Kube, r.Caches.Clock)
	}
	return r.sink
}

// Close stops the caches and flushes the Event sink (see events.Sink.Close).
func (r *Resources) Close() {
	r.mu.Lock()
	r.closed = true
	sink := r.sink
	r.mu.Unlock()
	r.Caches.Close()
	sink.Close()
}

// Of returns the Resources of v, a *strategy.Watches; package strategy
// sets it, since this package cannot import it.
var Of func(v any) *Resources

package strategy

import (
	"github.com/switchyard-dev/switchyard/internal/objcache"
	"github.com/switchyard-dev/switchyard/internal/shared"
)

// Watches are the watch caches and the corev1 Event sender that the Runs
// of one process share. A program that drives many releases, or one
// release after another, makes one with NewWatches, passes it to every
// strategy with WithWatches, and calls Close when it stops:
//
//	w := strategy.NewWatches(clients)
//	defer w.Close()
//	bg := bluegreen.New(clients, spec, strategy.WithWatches(w))
//
// The caches are client-go Reflectors feeding Indexers, one per kind of
// object and namespace (Deployments and pods carrying LabelApp, Services,
// EndpointSlices, release records), started by the first Run that needs
// them and kept until Close. A Run whose namespace is already watched
// makes no list and opens no watch. Without WithWatches each Run starts
// its own and stops them before it returns. Watches are safe for
// concurrent use; Close ends their goroutines, and Runs still using them
// then fail.
type Watches struct {
	res   *shared.Resources
	clock any // the clock the caches run on, which a strategy's must be
}

func init() {
	shared.Of = func(v any) *shared.Resources {
		if w, ok := v.(*Watches); ok && w != nil {
			return w.res
		}
		return nil
	}
}

// NewWatches returns Watches for clients, on the clock of opts (the other
// options do not matter here). They start nothing until a Run uses them.
func NewWatches(clients Clients, opts ...Option) *Watches {
	cfg := NewConfig(opts...)
	return &Watches{res: shared.New(objcache.NewLayer(clients.Kube, cfg.Clock)), clock: cfg.Clock}
}

// Close stops the watches, sends the corev1 Events still queued (waiting
// a few seconds at most) and waits for every goroutine of the Watches to
// end. It is safe to call more than once.
func (w *Watches) Close() { w.res.Close() }

// WithWatches makes Runs use w instead of watches of their own. w must
// have been made for the strategy's clients and clock.
func WithWatches(w *Watches) Option { return optionFunc(func(c *Config) { c.Watches = w }) }

// validFor checks that w was made with c's clock (the driver checks the
// clients).
func (w *Watches) validFor(v *Validator, c Config) {
	v.Check(w.clock == any(c.Clock), "options.watches", nil, "were made with another clock than the strategy's")
}

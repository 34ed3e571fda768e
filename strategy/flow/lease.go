package flow

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/switchyard-dev/switchyard/internal/participant"
	"github.com/switchyard-dev/switchyard/internal/store"
	"github.com/switchyard-dev/switchyard/strategy"
)

// keeper renews a driver's lease on its own schedule, whatever the
// driver's steps are doing (a check longer than the lease included), and
// fences the driver: once its lease may lapse, Fence fails and the
// driver's API calls stop.
type keeper struct {
	d        *Driver
	every    time.Duration // renew this long after the last write
	fenceGap time.Duration // stop acting this long before the lease lapses

	mu      sync.Mutex
	last    time.Time // when the lease was last written, on the driver's clock
	err     error     // set once the lease is lost for good
	lostCh  chan struct{}
	hooks   map[int]func() // called before lostCh is closed
	nextID  int
	stopped bool

	store *store.Store // with a retrier that marks the keeper idle
	quit  chan struct{}
	done  chan struct{}
}

func startKeeper(d *Driver) *keeper {
	lease := d.cfg.LeaseDuration
	k := &keeper{d: d, every: lease / 2, fenceGap: lease / 4, lostCh: make(chan struct{}),
		quit: make(chan struct{}), done: make(chan struct{})}
	k.last = d.Record().Lease.Renewed
	idle, busy, done := participant.Track(d.cfg.Clock)
	retry := d.store.Retry
	retry.Idle = func() func() { idle(); return busy }
	retry.Max = max(lease/8, time.Millisecond) // keep trying well inside the lease
	k.store = &store.Store{Kube: d.store.Kube, Retry: retry}
	go k.loop(idle, busy, done)
	return k
}

func (k *keeper) loop(idle, busy, done func()) {
	defer close(k.done)
	defer done()
	clk := k.d.cfg.Clock
	for {
		k.mu.Lock()
		next := k.last.Add(k.every)
		k.mu.Unlock()
		if wait := next.Sub(clk.Now()); wait > 0 {
			fired := make(chan struct{})
			t := clk.AfterFunc(wait, func() { busy(); close(fired) })
			idle()
			select {
			case <-fired:
			case <-k.quit:
				t.Stop()
				return
			}
			busy()
			continue
		}
		if err := k.renew(); err != nil {
			return
		}
	}
}

// renew writes the record to renew the lease, retrying transient errors
// until the keeper stops or the lease is lost.
func (k *keeper) renew() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-k.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := k.d.save(ctx, k.store, nil)
	if err != nil && ctx.Err() == nil {
		k.lost(fmt.Errorf("renewing lease: %w", err))
	}
	return err
}

// renewed notes a write of the lease at now.
func (k *keeper) renewed(now time.Time) {
	if k == nil {
		return
	}
	k.mu.Lock()
	if now.After(k.last) {
		k.last = now
	}
	k.mu.Unlock()
}

// lost marks the lease lost for good.
func (k *keeper) lost(err error) {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err == nil {
		k.err = err
		for _, f := range k.hooks {
			f()
		}
		close(k.lostCh)
	}
}

// OnChange implements changeHook: f is called before lostCh is closed, so
// that a waiting driver is marked busy before it wakes.
func (k *keeper) OnChange(f func()) (cancel func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.hooks == nil {
		k.hooks = map[int]func(){}
	}
	id := k.nextID
	k.nextID++
	k.hooks[id] = f
	return func() {
		k.mu.Lock()
		delete(k.hooks, id)
		k.mu.Unlock()
	}
}

// lostErr returns why the lease was lost, nil while it is held.
func (k *keeper) lostErr() error {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

// Changed implements Source: closed when the lease is lost.
func (k *keeper) Changed() <-chan struct{} { return k.lostCh }

// fence returns an error once the lease is lost or may lapse before the
// next write.
func (k *keeper) fence(now time.Time) error {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return k.err
	}
	if until := k.last.Add(k.d.cfg.LeaseDuration - k.fenceGap); !now.Before(until) {
		return fmt.Errorf("release %s: lease not renewed since %s, so it may lapse: %w",
			k.d.app, k.last.Format(time.RFC3339Nano), strategy.ErrLeaseLost)
	}
	return nil
}

func (k *keeper) stop() {
	if k == nil {
		return
	}
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		return
	}
	k.stopped = true
	k.mu.Unlock()
	close(k.quit)
	<-k.done
}

// Fence returns ErrLeaseLost once the driver's lease is lost, or may lapse
// before it is renewed; a driver calls nothing on the API after that. The
// lease is renewed on its own schedule (at half its duration), so a
// healthy driver never sees this.
func (d *Driver) Fence() error { return d.keeper.fence(d.Now()) }

// Guard returns a context that ends when the driver loses its lease, so
// that whatever runs under it stops acting.
func (d *Driver) Guard(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	if d.keeper == nil {
		return ctx, func() { cancel(nil) }
	}
	go func() {
		select {
		case <-d.keeper.lostCh:
			cancel(d.keeper.lostErr())
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

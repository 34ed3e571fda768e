package strategy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-dev/switchyard/internal/participant"
	"github.com/switchyard-dev/switchyard/internal/retry"
	"github.com/switchyard-dev/switchyard/internal/shared"
	"github.com/switchyard-dev/switchyard/internal/store"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// Control sends control requests to releases from any process. Requests
// are written to the release record; a driver that is running sees them
// through its watch within one round trip, and a driver started later finds
// them in the record. Retry and Undo of a release that has ended take
// effect at the next Run for the app.
type Control struct {
	kube  kubernetes.Interface
	cfg   Config
	store *store.Store
}

// NewControl returns a Control that writes with kube. WithClock and
// WithIdentity are the options it uses.
func NewControl(kube kubernetes.Interface, opts ...Option) *Control {
	cfg := NewConfig(opts...)
	return &Control{kube: kube, cfg: cfg, store: &store.Store{Kube: kube, Retry: retry.Retrier{Clock: cfg.Clock, Max: cfg.MaxRetryBackoff}}}
}

// phases in which each request applies.
var applies = map[Action][]Phase{
	ActionPromote:     {PhasePending, PhaseProgressing, PhasePaused},
	ActionPromoteFull: {PhasePending, PhaseProgressing, PhasePaused},
	ActionPause:       {PhasePending, PhaseProgressing},
	ActionResume:      {PhasePaused},
	ActionAbort:       {PhasePending, PhaseProgressing, PhasePaused, PhasePromoting},
	ActionRetry:       {PhaseAborted, PhaseFailed},
	ActionReplace:     {PhasePending, PhaseProgressing, PhasePaused, PhasePromoting},
}

// Promote moves the release past its current step (a pause, a manual
// judgement, a step's wait).
func (c *Control) Promote(ctx context.Context, app types.NamespacedName) error {
	return c.request(ctx, app, Request{Action: ActionPromote})
}

// PromoteFull skips every remaining step and promotes the new revision.
func (c *Control) PromoteFull(ctx context.Context, app types.NamespacedName) error {
	return c.request(ctx, app, Request{Action: ActionPromoteFull})
}

// Pause holds the release at its current step until Resume.
func (c *Control) Pause(ctx context.Context, app types.NamespacedName) error {
	return c.request(ctx, app, Request{Action: ActionPause})
}

// Resume continues a paused release.
func (c *Control) Resume(ctx context.Context, app types.NamespacedName) error {
	return c.request(ctx, app, Request{Action: ActionResume})
}

// Abort sends all traffic back to the stable revision at once and ends the
// release in phase Aborted.
func (c *Control) Abort(ctx context.Context, app types.NamespacedName) error {
	return c.request(ctx, app, Request{Action: ActionAbort})
}

// Retry starts an aborted or failed release of the same revision again.
func (c *Control) Retry(ctx context.Context, app types.NamespacedName) error {
	return c.request(ctx, app, Request{Action: ActionRetry})
}

// Undo goes back to revision, which must be in the release history.
func (c *Control) Undo(ctx context.Context, app types.NamespacedName, revision string) error {
	return c.request(ctx, app, Request{Action: ActionUndo, Revision: revision})
}

// Replace asks the driver of a release in flight to stop in favour of
// revision. It does nothing when no release is in flight. Strategies call it
// when Begin reports ErrLocked for a newer revision, then WaitUnlocked.
func (c *Control) Replace(ctx context.Context, app types.NamespacedName, revision string) error {
	err := c.request(ctx, app, Request{Action: ActionReplace, Revision: revision})
	if errors.Is(err, ErrNotApplicable) {
		return nil
	}
	return err
}

// WaitUnlocked waits, on a watch of the record and the clock, until no
// other driver holds the release's lease: its holder released it, let it
// lapse, or left it unchanged for its whole duration (whatever its
// timestamps say, so that a lease renewed "in the future" cannot block a
// release for ever). A lease held under this Control's identity counts as
// free once no Run of this process holds the app: it is a restarted
// driver's own.
func (c *Control) WaitUnlocked(ctx context.Context, app types.NamespacedName) error {
	_, err := c.store.WaitUnlocked(ctx, app, c.cfg.Identity, func(err error) error { return &WatchError{Err: err} })
	return err
}

// Await waits, on a watch of the release record, until cond holds for the
// release's status, and returns that status. It is how a test or a tool
// waits for a phase or a step without polling:
//
//	st, err := control.Await(ctx, app, func(s *Status) bool { return s.Phase == PhasePaused })
//
// It returns ctx's error when ctx ends first, and ErrCorruptRecord when
// the record cannot be read. A missing record is waited for.
func (c *Control) Await(ctx context.Context, app types.NamespacedName, cond func(*Status) bool) (*Status, error) {
	w, err := c.store.WatchRecord(ctx, app)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	for {
		changed := w.Records.Changed()
		if err := w.Failed(); err != nil {
			return nil, &WatchError{Err: err}
		}
		if cm, ok := w.Get(app); ok {
			rec, err := record.Decode(app, cm)
			if err != nil {
				return nil, err
			}
			if s := statusOf(app, rec); cond(s) {
				return s, nil
			}
		}
		if err := w.Block(ctx, c.cfg.Clock, changed, 0); err != nil {
			return nil, err
		}
	}
}

// Status returns the release's recorded state.
func (c *Control) Status(ctx context.Context, app types.NamespacedName) (*Status, error) {
	st, done := c.tracked()
	defer done()
	rec, _, err := st.Load(ctx, app)
	if err != nil {
		return nil, err
	}
	return statusOf(app, rec), nil
}

// List returns the status of every release recorded in namespace (all
// namespaces when namespace is empty), sorted by namespace and app. It
// makes one LIST request. A record that cannot be read (edited by hand, or
// a look-alike ConfigMap) is left out and reported in the returned error,
// which wraps ErrCorruptRecord or ErrForeignRecord; the other statuses are
// still returned.
func (c *Control) List(ctx context.Context, namespace string) ([]*Status, error) {
	st, done := c.tracked()
	defer done()
	var list *corev1.ConfigMapList
	err := st.Retry.Do(ctx, func(ctx context.Context) error {
		var err error
		list, err = c.kube.CoreV1().ConfigMaps(namespace).List(ctx, metav1.ListOptions{
			LabelSelector: LabelRecord + "=true," + LabelManagedBy + "=" + ManagedBy,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing release records: %w", err)
	}
	var out []*Status
	var errs []error
	for i := range list.Items {
		cm := &list.Items[i]
		app := types.NamespacedName{Namespace: cm.Namespace, Name: strings.TrimSuffix(cm.Name, record.Suffix)}
		if !strings.HasSuffix(cm.Name, record.Suffix) {
			continue
		}
		rec, err := record.Decode(app, cm)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, statusOf(app, rec))
	}
	slices.SortFunc(out, func(a, b *Status) int {
		return strings.Compare(a.App.String(), b.App.String())
	})
	return out, errors.Join(errs...)
}

// Recorded returns the recorded Result when the release of revision has
// ended (Record.Ended), and false otherwise; it reads once and never writes.
// Strategies call it before Begin so that a Run of a finished release costs
// one read.
//
// With shared watches (WithWatches) it reads the record from them, and
// makes no request once they watch the namespace: a record they do not
// hold yet is treated as not ended, and the driver's first write, which
// is conditional, finds out.
func (c *Control) Recorded(ctx context.Context, app types.NamespacedName, revision string) (*Result, bool, error) {
	if res := shared.Of(c.cfg.Watches); res != nil && res.Caches.Kube == c.kube {
		if cache, err := res.Caches.Records(ctx, app.Namespace); err == nil {
			cm, ok := cache.Get(app.Namespace, record.Name(app.Name))
			if !ok {
				return nil, false, nil
			}
			if rec, err := record.Decode(app, cm); err == nil {
				if !rec.Ended(revision) {
					return nil, false, nil
				}
				return resultOf(app, rec), true, nil
			}
			// A record that does not decode: read it, for the error.
		}
	}
	st, done := c.tracked()
	defer done()
	rec, _, err := st.Load(ctx, app)
	if errors.Is(err, ErrNoRecord) {
		return nil, false, nil
	}
	if err != nil || !rec.Ended(revision) {
		return nil, false, err
	}
	return resultOf(app, rec), true, nil
}

func (c *Control) request(ctx context.Context, app types.NamespacedName, q Request) error {
	st, done := c.tracked()
	defer done()
	_, _, err := st.Update(ctx, app, false, func(r *record.Record) error {
		if q.Action == ActionUndo {
			if _, ok := r.Find(q.Revision); !ok {
				return fmt.Errorf("undo %s to %q: %w", app, q.Revision, ErrUnknownRevision)
			}
		} else if ok := slices.Contains(applies[q.Action], r.Phase); !ok && !(q.Action == ActionResume && r.Paused) {
			return &PhaseError{Action: q.Action, Phase: r.Phase}
		}
		if err := refusal(r, q); err != nil {
			return err
		}
		r.Seq++
		q.Seq, q.Step, q.By, q.At = r.Seq, r.Step, c.cfg.Identity, c.cfg.Clock.Now()
		r.Requests = append(r.Requests, q)
		if len(r.Requests) > record.MaxPendingRequests {
			r.Requests = r.Requests[len(r.Requests)-record.MaxPendingRequests:]
		}
		return nil
	})
	return err
}

// refusal says why a request that fits the release's phase cannot be
// honoured now, so that it is refused rather than accepted and dropped.
func refusal(r *record.Record, q Request) error {
	inFlight := r.InFlight()
	refuse := func(why string) error { return &PhaseError{Action: q.Action, Phase: r.Phase, Why: why} }
	switch q.Action {
	case ActionAbort:
		switch {
		case r.Committed:
			return refuse("the previous revision's pods are being removed; release it again with Run or Undo once this release ends")
		case r.Switched && r.Previous == "":
			return refuse("this first release already serves and there is nothing to go back to")
		}
	case ActionUndo:
		switch {
		case !inFlight || !r.Switched || q.Revision == r.Revision:
		case r.Committed:
			return refuse("the previous revision's pods are being removed; Undo once this release ends")
		case q.Revision != r.Previous:
			return refuse(fmt.Sprintf("traffic already moved to %s; Undo to %s (the previous revision) or wait for the release to end", r.Revision, r.Previous))
		}
	case ActionReplace:
		if q.Revision == r.Revision {
			return refuse("the release in flight already ships " + q.Revision)
		}
	}
	return nil
}

// tracked returns a store whose retries count this Control as a waiting
// participant of an auto-advancing fake clock, and the function that ends
// its participation.
func (c *Control) tracked() (*store.Store, func()) {
	idle, busy, done := participant.Track(c.cfg.Clock)
	r := c.store.Retry
	r.Idle = func() func() { idle(); return busy }
	return &store.Store{Kube: c.kube, Retry: r}, done
}

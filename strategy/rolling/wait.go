package rolling

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// available waits until the Deployment has rolled out; the flow handles
// Pause, Resume, Abort and Undo requests and the progress deadline on the
// way.
func (rn *run) available(ctx context.Context) (string, error) {
	_, err := rn.f.Await(ctx, flow.Await{
		Reason: "waiting for every replica of the new template to be available",
		Cond: func() (bool, time.Time) {
			ok, _ := rn.rolledOut()
			return ok, time.Time{}
		},
		Deadline: rn.d.Record().Progressed.Add(rn.s.spec.ProgressDeadline),
	})
	return "", err
}

// rollback puts the last successful revision's workload back.
func (rn *run) rollback(ctx context.Context, _ strategy.Reason) (func(*record.Record) error, error) {
	rec := rn.d.Record()
	h, ok := rec.Find(rec.Stable)
	if !ok || h.Workload == nil || rec.Stable == rec.Revision {
		return nil, nil
	}
	if err := rn.apply(ctx, h.Workload, h.Revision, false); err != nil {
		return nil, err
	}
	return func(r *record.Record) error {
		r.Message += "; rolled back to " + h.Revision
		return nil
	}, nil
}

// rolledOut reports whether the Deployment's controller has rolled out the
// current generation to every replica.
func (rn *run) rolledOut() (bool, error) {
	dep, ok := rn.deploys.Get(rn.rel.App.Namespace, rn.rel.App.Name)
	if !ok {
		return false, nil
	}
	return complete(dep, rn.rel.Revision), nil
}

// complete reports whether dep runs revision on every replica. The revision
// check keeps a cached copy from before the apply from counting.
func complete(dep *appsv1.Deployment, revision string) bool {
	if dep.Spec.Template.Labels[LabelRevision] != revision {
		return false
	}
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	return st.ObservedGeneration >= dep.Generation &&
		st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want
}

package bootstrap

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Defaults of Spec.
const (
	DefaultConcurrency   = 8
	DefaultObjectTimeout = 5 * time.Minute
	DefaultTimeout       = 30 * time.Minute
)

// Spec configures a bootstrap. The zero value is ready to use: eight
// objects in flight at once, conflicts with other field managers reported
// rather than forced, no prune, no rollback, the default timeouts, and
// every namespaced object naming its namespace.
type Spec struct {
	// Concurrency is how many objects may be applied, or deleted, at once;
	// 0 means DefaultConcurrency.
	Concurrency int
	// ForceConflicts takes over fields another field manager owns instead
	// of failing the object with a conflict.
	ForceConflicts bool
	// Prune deletes, after a successful run, the objects that left the
	// bundle: only those a run of this bundle created, still annotated as
	// the bundle's and with the UID it recorded, and never a Namespace or
	// a CRD that holds anything else.
	Prune bool
	// Rollback deletes, after a failed run, the objects this run created,
	// dependents before what they depend on; not after a run whose
	// context ended.
	Rollback bool
	// KeepGoing applies and waits for everything that does not depend on a
	// failed object, instead of stopping at the first failure.
	KeepGoing bool
	// ObjectTimeout bounds the wait for one object to become ready after
	// it was applied; 0 means DefaultObjectTimeout.
	ObjectTimeout time.Duration
	// Timeout bounds the whole run, prune included; 0 means DefaultTimeout.
	Timeout time.Duration
	// Namespace is given to objects of namespaced kinds that name none,
	// never to cluster-scoped ones. When it is empty, such objects are a
	// *strategy.ValidationError: they never land in "default" by chance.
	Namespace string
	// Checks replace the readiness rules of the kinds they name.
	Checks []Check
	// Dependencies are edges of the graph given in Go, in addition to the
	// inferred ones and those of AnnotationDependsOn.
	Dependencies []Dependency
}

func (s Spec) withDefaults() Spec {
	if s.Concurrency == 0 {
		s.Concurrency = DefaultConcurrency
	}
	if s.ObjectTimeout == 0 {
		s.ObjectTimeout = DefaultObjectTimeout
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	return s
}

// Strategy is the Day 1 bootstrap. Build it with New; it is safe to use
// from several goroutines for different bundles.
type Strategy struct {
	clients strategy.Clients
	spec    Spec
	cfg     strategy.Config
	checks  []*compiledCheck // Spec.Checks, in order
	ready   readiness
}

var _ strategy.Strategy = (*Strategy)(nil)

// New returns a bootstrap that works through clients, which need Kube,
// Dynamic, Mapper and, for custom resources of kinds the bundle does not
// define, Discovery. Of the shared options it uses the clock, the field
// manager, the identity and lease, the observer, the logger, events and
// OpenTelemetry.
func New(clients strategy.Clients, spec Spec, opts ...strategy.Option) *Strategy {
	s := &Strategy{clients: clients, spec: spec.withDefaults(), cfg: strategy.NewConfig(opts...)}
	s.ready = readiness{checks: map[schema.GroupKind]*compiledCheck{}}
	for i := range s.spec.Checks {
		c := compileCheck(&s.spec.Checks[i])
		s.checks = append(s.checks, c)
		s.ready.checks[c.Kind] = c
	}
	return s
}

// Name returns "bootstrap".
func (s *Strategy) Name() string { return "bootstrap" }

// Plan reports what Run would do to each object, in the order it would
// apply them: one step per object, named after it, whose description is
// the action ("create", "configure", "unchanged", "prune", "keep") and,
// for "configure", the fields that would change. It writes nothing; see
// DryRun for the details.
func (s *Strategy) Plan(ctx context.Context, r strategy.Release) (*strategy.Plan, error) {
	rep, err := s.DryRun(ctx, r)
	if err != nil {
		return nil, err
	}
	return rep.plan(), nil
}

// Run applies the bundle in r.Objects and waits until every object is
// ready; see Apply, which returns the same outcome object by object.
func (s *Strategy) Run(ctx context.Context, r strategy.Release) (*strategy.Result, error) {
	rep, err := s.Apply(ctx, r)
	if rep == nil {
		return nil, err
	}
	return rep.Result, err
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/switchyard-dev/switchyard/strategy"
)

const (
	// failFast is how soon a run without a verb it needs must fail.
	failFast = 30 * time.Second
	// runTimeout ends a run that waits for what it cannot see; it is
	// longer than progressDeadline, so that the strategy's own deadline
	// shows first.
	runTimeout = progressDeadline + 10*time.Second
	// concurrency is how many removals run at once.
	concurrency = 8
)

// removal is one verb taken out of one rule of a part's roles.
type removal struct {
	sc                    scenario
	cluster               bool // the rule is in the ClusterRole
	group, resource, verb string
}

func (r removal) String() string {
	res := r.resource
	if r.group != "" {
		res += "." + r.group
	}
	scope := ""
	if r.cluster {
		scope = " (cluster)"
	}
	return fmt.Sprintf("%s/%s %s%s", r.sc.name, res, r.verb, scope)
}

// removals lists every verb of every rule of sc's roles; only, when set,
// limits them to the rules it keeps.
func removals(sc scenario, only func(cluster bool, r rbacv1.PolicyRule, verb string) bool) []removal {
	role, cr := sc.roles("x")
	var out []removal
	add := func(cluster bool, rules []rbacv1.PolicyRule) {
		for _, r := range rules {
			for _, v := range r.Verbs {
				if only == nil || only(cluster, r, v) {
					out = append(out, removal{sc: sc, cluster: cluster, group: r.APIGroups[0], resource: r.Resources[0], verb: v})
				}
			}
		}
	}
	if role != nil {
		add(false, role.Rules)
	}
	if cr != nil {
		add(true, cr.Rules)
	}
	return out
}

// knownHangs are removals after which a run waits until its deadline
// instead of failing at once: library bugs, reported, not fixed here. A
// removal listed here that fails fast after all fails the test, so that
// the list stays true.
var knownHangs = map[string]string{}

// bestEffort are the resources whose verbs a run does without: Events.
func bestEffort(r removal) bool { return r.group == "" && r.resource == "events" }

// verdict is how a run without one verb ended.
type verdict struct {
	removal removal
	err     error
	took    time.Duration
	class   string
}

// classify names the typed error err carries, "" for none.
func classify(err error) string {
	var we *strategy.WatchError
	var ve *strategy.ValidationError
	switch {
	case errors.As(err, &we):
		return "WatchError"
	case apierrors.IsForbidden(err):
		return "Forbidden"
	case errors.As(err, &ve) && strings.Contains(ve.Error(), "forbidden"):
		return "ValidationError(forbidden)"
	}
	return ""
}

// hung reports whether a run waited for its deadline rather than failing.
func hung(err error, took time.Duration) bool {
	return took >= failFast || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, strategy.ErrProgressDeadline)
}

// TestRemovingAnyVerbFails runs each part again with each verb of each of
// its rules removed in turn: the run must fail within failFast with a
// forbidden error or a *strategy.WatchError (a verb whose absence goes
// unnoticed is not needed, and a run that waits out its deadline instead is
// a library bug). Events are best effort: without them a run succeeds and
// writes none. The canary with a Gateway API router is run only without
// the rules whose verbs differ from ReplicaRatio's.
func TestRemovingAnyVerbFails(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	var all []removal
	for _, sc := range []scenario{blueGreenScenario, canaryRatioScenario, rollingScenario, controlScenario, bootstrapScenario} {
		all = append(all, removals(sc, nil)...)
	}
	ratio, _ := canaryRatioScenario.roles("x")
	all = append(all, removals(canaryGatewayScenario, func(_ bool, r rbacv1.PolicyRule, verb string) bool {
		i := slices.IndexFunc(ratio.Rules, func(o rbacv1.PolicyRule) bool {
			return o.APIGroups[0] == r.APIGroups[0] && o.Resources[0] == r.Resources[0]
		})
		return i < 0 || !slices.Equal(ratio.Rules[i].Verbs, r.Verbs)
	})...)

	var mu sync.Mutex
	var verdicts []verdict
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for _, rm := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// Subtests may be run from several goroutines at once; they
			// all return before this test does.
			t.Run(rm.String(), func(t *testing.T) {
				v := verdict{removal: rm}
				defer func() { // after a Skip too
					mu.Lock()
					verdicts = append(verdicts, v)
					mu.Unlock()
				}()
				runWithout(t, c, &v)
			})
		}()
	}
	wg.Wait()

	sort.Slice(verdicts, func(i, j int) bool { return verdicts[i].removal.String() < verdicts[j].removal.String() })
	var b strings.Builder
	for _, v := range verdicts {
		outcome := v.class
		switch {
		case v.err == nil:
			outcome = "succeeded"
		case outcome == "":
			outcome = "untyped"
		}
		if hung(v.err, v.took) && v.err != nil {
			outcome = "HUNG " + outcome
		}
		msg := ""
		if v.err != nil {
			msg = v.err.Error()
			if len(msg) > 160 {
				msg = msg[:160] + "..."
			}
		}
		fmt.Fprintf(&b, "\n%-60s %-28s %6s  %s", v.removal, outcome, v.took.Round(10*time.Millisecond), msg)
	}
	t.Logf("runs without one verb (%d):%s", len(verdicts), b.String())
}

// runWithout runs v.removal's scenario as an identity whose roles lack its
// verb, notes in v how it ended, and checks that.
func runWithout(t *testing.T, c *cluster, v *verdict) {
	rm := v.removal
	sc := rm.sc
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout+30*time.Second)
	defer cancel()
	ns := c.namespace(t, ctx, "rbac-rm")
	sc.setup(t, ctx, c, ns)
	role, cr := sc.roles(ns)
	if rm.cluster {
		cr.Rules = without(cr.Rules, rm.group, rm.resource, rm.verb)
	} else {
		role.Rules = without(role.Rules, rm.group, rm.resource, rm.verb)
	}
	cl := c.actAs(t, ctx, ns, "switchyard", role, cr)
	rctx, stop := context.WithTimeout(ctx, runTimeout)
	defer stop()
	start := time.Now()
	err := sc.run(rctx, c, cl, ns)
	v.err, v.took, v.class = err, time.Since(start), classify(err)
	t.Logf("ended after %s: %v", v.took.Round(time.Millisecond), err)

	if bestEffort(rm) {
		assert.NoError(t, err, "Events are best effort: a run goes on without them")
		if rm.verb == "create" && err == nil {
			assert.Zero(t, eventsWritten(t, ctx, c, ns), "no Event is written without create")
		}
		return
	}
	bug, known := knownHangs[rm.String()]
	switch {
	case err == nil:
		t.Errorf("the run succeeded without %s: the verb is not needed, drop it from the table of package rbac", rm)
	case hung(err, v.took) && known:
		t.Skipf("known library bug: %s (ended after %s: %v)", bug, v.took.Round(time.Millisecond), err)
	case hung(err, v.took):
		t.Errorf("without %s the run waited %s for its deadline instead of failing: %v", rm, v.took.Round(time.Millisecond), err)
	case known:
		t.Errorf("without %s the run now fails fast (%v): remove it from knownHangs", rm, err)
	case v.class == "":
		t.Errorf("without %s the run failed with an error that is neither forbidden nor a *strategy.WatchError: %v", rm, err)
	}
}

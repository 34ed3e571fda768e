package bootstrap

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Check decides when the objects of one kind are ready, in place of the
// built-in rules for that kind; the generic rules (deletion, observed
// generation, Reconciling and Stalled conditions) still come first.
//
// With Func set, Func decides. Otherwise the object is Failed when any of
// Failed matches or FailedCEL holds, Current when every one of Ready
// matches and ReadyCEL (when set) holds, and InProgress in between. A Check
// with none of them makes its kind Current as soon as it exists: use it for
// custom resources that no controller writes a status for.
type Check struct {
	Kind   schema.GroupKind
	Ready  []ConditionMatch
	Failed []ConditionMatch
	// ReadyCEL and FailedCEL are boolean CEL expressions over object, the
	// live object as a map: `object.status.phase == "Running"`. Use has()
	// for fields that may be missing: an expression that cannot be
	// evaluated leaves the object InProgress, with the error as message.
	ReadyCEL  string
	FailedCEL string
	Func      func(u *unstructured.Unstructured) ObjectStatus
}

// ConditionMatch matches one status condition by type, status and,
// optionally, reason. Status defaults to "True".
type ConditionMatch struct {
	Type   string
	Status string
	Reason string
}

func (m ConditionMatch) String() string {
	s := m.Type + "=" + orDefault(m.Status, "True")
	if m.Reason != "" {
		s += " (" + m.Reason + ")"
	}
	return s
}

func (m ConditionMatch) matches(c condition) bool {
	return c.Type == m.Type && c.Status == orDefault(m.Status, "True") && (m.Reason == "" || c.Reason == m.Reason)
}

// compiledCheck is a Check with its CEL expressions compiled.
type compiledCheck struct {
	*Check
	ready, failed cel.Program
	err           error // why an expression does not compile
}

var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(cel.Variable("object", cel.DynType), cel.CrossTypeNumericComparisons(true))
})

// celCostLimit bounds the work one evaluation may do.
const celCostLimit = 100_000

func compileCheck(c *Check) *compiledCheck {
	cc := &compiledCheck{Check: c}
	compile := func(field, expr string) cel.Program {
		if expr == "" || cc.err != nil {
			return nil
		}
		env, err := celEnv()
		if err != nil {
			cc.err = err
			return nil
		}
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			cc.err = fmt.Errorf("%s: %w", field, iss.Err())
			return nil
		}
		if !ast.OutputType().IsExactType(cel.BoolType) {
			cc.err = fmt.Errorf("%s must be a boolean expression, not %s", field, ast.OutputType())
			return nil
		}
		prg, err := env.Program(ast, cel.CostLimit(celCostLimit))
		if err != nil {
			cc.err = fmt.Errorf("%s: %w", field, err)
		}
		return prg
	}
	cc.ready = compile("readyCEL", c.ReadyCEL)
	cc.failed = compile("failedCEL", c.FailedCEL)
	return cc
}

// holds evaluates a compiled expression over u.
func holds(prg cel.Program, u *unstructured.Unstructured) (bool, error) {
	out, _, err := prg.Eval(map[string]any{"object": u.Object})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("not a boolean: %v", out.Value())
	}
	return b, nil
}

// evaluate applies the check to u.
func (c *compiledCheck) evaluate(u *unstructured.Unstructured) ObjectStatus {
	if c.Func != nil {
		return c.Func(u)
	}
	conds := conditions(u)
	find := func(m ConditionMatch) (condition, bool) {
		for _, cd := range conds {
			if m.matches(cd) {
				return cd, true
			}
		}
		return condition{}, false
	}
	for _, m := range c.Failed {
		if cd, ok := find(m); ok {
			return failed(orDefault(cd.Reason, cd.Type), fmt.Sprintf("condition %s: %s", m, orDefault(cd.Message, "no message")))
		}
	}
	if c.failed != nil {
		if bad, err := holds(c.failed, u); err == nil && bad {
			return failed("FailedCEL", "failedCEL holds: "+c.FailedCEL)
		}
	}
	var missing []string
	for _, m := range c.Ready {
		if _, ok := find(m); !ok {
			missing = append(missing, "condition "+m.String())
		}
	}
	if c.ready != nil {
		ok, err := holds(c.ready, u)
		switch {
		case err != nil:
			missing = append(missing, fmt.Sprintf("readyCEL (%v)", err))
		case !ok:
			missing = append(missing, "readyCEL "+c.ReadyCEL)
		}
	}
	if len(missing) > 0 {
		return inProgress("NotReady", "waiting for "+strings.Join(missing, ", "))
	}
	if len(c.Ready) == 0 && c.ready == nil {
		return current("exists")
	}
	return current("ready by its check")
}

func (c *compiledCheck) validate(v *strategy.Validator, path string) {
	v.Check(c.Kind.Kind != "", path+".kind", nil, "must name a kind")
	v.Check(c.Func == nil || (len(c.Ready) == 0 && len(c.Failed) == 0 && c.ReadyCEL == "" && c.FailedCEL == ""), path, nil,
		"set either func or conditions and expressions, not both")
	for i, m := range append(append([]ConditionMatch(nil), c.Ready...), c.Failed...) {
		v.Check(m.Type != "", fmt.Sprintf("%s.conditions[%d].type", path, i), nil, "must not be empty")
	}
	if c.err != nil {
		v.Add(path, nil, "%v", c.err)
	}
}

// readiness is the status Run waits on: kstatus (Compute) with stricter
// rules where kstatus returns too early, and the caller's checks.
type readiness struct {
	checks map[schema.GroupKind]*compiledCheck
}

// status computes the status of live, an object of node n.
func (r readiness) status(u *unstructured.Unstructured, needsStatus bool, now time.Time) ObjectStatus {
	if st, ok := generic(u); ok {
		return st
	}
	gk := u.GroupVersionKind().GroupKind()
	if c := r.checks[gk]; c != nil {
		return c.evaluate(u)
	}
	switch gk.String() {
	case "Job.batch":
		return jobComplete(u, now)
	case "CustomResourceDefinition.apiextensions.k8s.io":
		return crdEstablished(u)
	}
	if needsStatus && emptyStatus(u) {
		return inProgress("NoStatus", "waiting for its controller to write a status")
	}
	return Compute(u, now)
}

// jobComplete holds a Job until it has completed: kstatus calls a running
// Job Current, but what depends on a Job (a migration, say) needs it done.
func jobComplete(u *unstructured.Unstructured, now time.Time) ObjectStatus {
	st := jobStatus(u, now)
	if st.Status != StatusCurrent {
		return st
	}
	if c, ok := findCondition(u, "Complete"); ok && c.Status == "True" {
		return st
	}
	return inProgress("JobNotComplete", st.Message)
}

// crdEstablished requires both conditions the apiserver sets on a
// CustomResourceDefinition before its resources are served.
func crdEstablished(u *unstructured.Unstructured) ObjectStatus {
	st := crdStatus(u, time.Time{})
	if st.Status != StatusCurrent {
		return st
	}
	if c, ok := findCondition(u, "NamesAccepted"); !ok || c.Status != "True" {
		return inProgress("NamesNotAccepted", "established, names not yet accepted")
	}
	return current("established, names accepted")
}

// emptyStatus reports whether u has no status, or an empty one.
func emptyStatus(u *unstructured.Unstructured) bool {
	st, ok := u.Object["status"].(map[string]any)
	return !ok || len(st) == 0
}

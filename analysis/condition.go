package analysis

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
)

// Condition is a success or failure condition over a measurement: a CEL
// expression over result, or a Go predicate. The zero Condition is unset.
//
// In CEL, result is a double for a single value and a list of doubles for a
// sample set: "result < 0.05", "result[0] < 0.05",
// "result.all(x, x < 0.3)". The expression must be boolean; it is compiled
// and type-checked when the analysis is validated.
type Condition struct {
	// CEL is a CEL expression over result.
	CEL string
	// Func is a Go predicate, used when CEL is empty. An error makes the
	// measurement an Error.
	Func func(Result) (bool, error)
	// Text describes Func in messages, such as "p99 under 300ms".
	Text string

	// op and threshold are set by the threshold constructors.
	op        string
	threshold float64
}

// Above holds when the result is greater than v (every sample, for a sample
// set).
func Above(v float64) Condition { return threshold(">", v) }

// AtLeast holds when the result is at least v (every sample, for a sample
// set).
func AtLeast(v float64) Condition { return threshold(">=", v) }

// Below holds when the result is less than v (every sample, for a sample
// set).
func Below(v float64) Condition { return threshold("<", v) }

// AtMost holds when the result is at most v (every sample, for a sample
// set).
func AtMost(v float64) Condition { return threshold("<=", v) }

// Expr is a CEL condition.
func Expr(cel string) Condition { return Condition{CEL: cel} }

// Predicate is a Go condition described by text in messages.
func Predicate(text string, f func(Result) (bool, error)) Condition {
	return Condition{Func: f, Text: text}
}

func threshold(op string, v float64) Condition {
	c := Condition{op: op, threshold: v, Text: "result " + op + " " + formatFloat(v)}
	c.Func = func(r Result) (bool, error) { return compareAll(r, op, v), nil }
	return c
}

// IsZero reports whether the condition is unset.
func (c Condition) IsZero() bool { return c.CEL == "" && c.Func == nil }

func (c Condition) String() string {
	switch {
	case c.CEL != "":
		return c.CEL
	case c.Text != "":
		return c.Text
	case c.Func != nil:
		return "Go predicate"
	}
	return ""
}

func compareAll(r Result, op string, v float64) bool {
	if r.Samples == nil {
		return compare(r.Value, op, v)
	}
	for _, x := range r.Samples {
		if !compare(x, op, v) {
			return false
		}
	}
	return len(r.Samples) > 0
}

func compare(x float64, op string, v float64) bool {
	switch op {
	case ">":
		return x > v
	case ">=":
		return x >= v
	case "<":
		return x < v
	case "<=":
		return x <= v
	case "==":
		return x == v
	case "!=":
		return x != v
	}
	return false
}

// celEnv is shared: a CEL environment is safe for concurrent use.
var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("result", cel.DynType),
		cel.CrossTypeNumericComparisons(true),
	)
})

// celCostLimit bounds the work of one evaluation, so that a condition over
// a huge sample set cannot run away.
const celCostLimit = 10_000_000

// simpleCEL matches "result <op> <number>", which is described like a
// threshold in messages.
var simpleCEL = regexp.MustCompile(`^\s*result\s*(<=|>=|<|>|==|!=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$`)

// predicate is a compiled Condition.
type predicate struct {
	c         Condition
	prg       cel.Program
	op        string
	threshold float64
}

// compileCondition compiles and type-checks c; a nil predicate means c is
// unset.
func compileCondition(c Condition) (*predicate, error) {
	if c.IsZero() {
		return nil, nil
	}
	p := &predicate{c: c, op: c.op, threshold: c.threshold}
	if c.CEL == "" {
		return p, nil
	}
	if c.Func != nil {
		return nil, errors.New("set either a CEL expression or a Go predicate, not both")
	}
	env, err := celEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(c.CEL)
	if iss.Err() != nil {
		return nil, errors.New(strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("must be a boolean expression, not %s", ast.OutputType())
	}
	p.prg, err = env.Program(ast, cel.CostLimit(celCostLimit))
	if err != nil {
		return nil, err
	}
	if m := simpleCEL.FindStringSubmatch(c.CEL); m != nil {
		if v, err := strconv.ParseFloat(m[2], 64); err == nil {
			p.op, p.threshold = m[1], v
		}
	}
	return p, nil
}

// eval reports whether the condition holds for r.
func (p *predicate) eval(r Result) (bool, error) {
	if p.prg == nil {
		return p.c.Func(r)
	}
	var v any = r.Value
	if r.Samples != nil {
		v = r.Samples
	}
	out, _, err := p.prg.Eval(map[string]any{"result": v})
	if err != nil {
		return false, fmt.Errorf("evaluating %q: %w", p.c.CEL, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("evaluating %q: got %v, not a boolean", p.c.CEL, out.Value())
	}
	return b, nil
}

// text is the condition as a limit to draw, as "result <= 0.05" for a
// threshold, or its CEL or description.
func (p *predicate) text() string {
	if p.op != "" {
		return fmt.Sprintf("result %s %s", p.op, formatFloat(p.threshold))
	}
	return p.c.String()
}

// met describes r meeting the condition, as "result 0.071 > 0.05".
func (p *predicate) met(r Result, role string) string {
	if p.op != "" {
		return fmt.Sprintf("result %s %s %s", formatResult(r), p.op, formatFloat(p.threshold))
	}
	return fmt.Sprintf("result %s meets %s condition %q", formatResult(r), role, p.c.String())
}

// unmet describes r not meeting the condition, as "result 0.071 not < 0.05".
func (p *predicate) unmet(r Result, role string) string {
	if p.op != "" {
		return fmt.Sprintf("result %s not %s %s", formatResult(r), p.op, formatFloat(p.threshold))
	}
	return fmt.Sprintf("result %s does not meet %s condition %q", formatResult(r), role, p.c.String())
}

// formatFloat writes v with up to six significant digits.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// maxShown is how many samples a message shows.
const maxShown = 5

// formatResult writes a value, or a sample set as "[1 2 3 4 5 …] (12
// values)".
func formatResult(r Result) string {
	if r.Samples == nil {
		return formatFloat(r.Value)
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range r.Samples {
		if i == maxShown {
			b.WriteString(" …")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(formatFloat(x))
	}
	b.WriteByte(']')
	if len(r.Samples) > maxShown {
		fmt.Fprintf(&b, " (%d values)", len(r.Samples))
	}
	return b.String()
}

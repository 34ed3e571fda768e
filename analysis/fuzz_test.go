package analysis

import (
	"math"
	"testing"
)

// FuzzCondition compiles arbitrary CEL conditions and evaluates the ones
// that compile on results of every shape: nothing may panic, and a
// condition either compiles or is an error at validation. The seeds run as
// an ordinary test; a longer run:
//
//	go test -run '^$' -fuzz FuzzCondition -fuzztime 60s ./analysis/
func FuzzCondition(f *testing.F) {
	for _, seed := range []string{
		"result <= 0.01", "result > 1 && result < 2", "result + 1", "size(result) > 0",
		"result.all(x, x < 5)", "result[0] == 1", "1/0 > 1", `result == "x"`, "(", "",
		"result <= 9223372036854775807", "double(result) == result",
	} {
		f.Add(seed, 0.5, 3)
	}
	f.Fuzz(func(t *testing.T, cel string, v float64, n int) {
		p, err := compileCondition(Expr(cel))
		if err != nil || p == nil {
			return // an error at validation, or no condition at all
		}
		samples := make([]float64, max(0, min(n, 8)))
		for i := range samples {
			samples[i] = v * float64(i)
		}
		for _, r := range []Result{{Value: v}, {Value: math.NaN()}, {Value: math.Inf(1)}, {Samples: samples}, {Samples: []float64{}}} {
			_, _ = p.eval(r)
		}
	})
}

// FuzzTemplate renders arbitrary query templates: a template either
// renders or is an error, never a panic.
//
//	go test -run '^$' -fuzz FuzzTemplate -fuzztime 60s ./analysis/
func FuzzTemplate(f *testing.F) {
	for _, seed := range []string{
		`rate(x{version="{{.Revision}}"}[1m])`, `{{arg "window"}}`, `{{.Args.window}}`, `{{.Missing}}`,
		`{{`, `{{template "x"}}`, `{{range .Args}}{{.}}{{end}}`, `{{printf "%d" 1}}`, "plain text",
	} {
		f.Add(seed)
	}
	v := Vars{App: "web", Namespace: "shop", Revision: "v2", Stable: "v1", Slot: "web-green", Service: "web",
		Analysis: "errors", Args: map[string]string{"window": "5m"}}
	f.Fuzz(func(t *testing.T, text string) {
		out, err := v.Render(text)
		if err == nil && len(out) > 1<<20 {
			t.Fatalf("a %d-byte template rendered %d bytes", len(text), len(out))
		}
	})
}

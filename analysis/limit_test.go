package analysis_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/analysis"
)

// TestMeasurementLimit checks the condition each measurement event says
// its value is held to, which a timeline draws against the values.
func TestMeasurementLimit(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		success, failure analysis.Condition
		want             string
	}{
		"threshold":         {success: analysis.AtMost(0.05), want: "result <= 0.05"},
		"simple CEL":        {success: analysis.Expr("result < 0.25"), want: "result < 0.25"},
		"CEL":               {success: analysis.Expr("result * 2.0 < 0.5"), want: "result * 2.0 < 0.5"},
		"both conditions":   {success: analysis.Below(0.01), failure: analysis.Above(0.05), want: "result < 0.01"},
		"failure condition": {failure: analysis.Above(0.1), want: "not result > 0.1"},
		"Go predicate": {success: analysis.Predicate("p99 under 300ms", func(analysis.Result) (bool, error) { return true, nil }),
			want: "p99 under 300ms"},
		"no condition": {want: ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, _ := script(sGood)
			m := analysis.Metric{Name: "m", Provider: p, Count: 1, Success: tc.success, Failure: tc.failure}
			_, evs, _ := run(t, context.Background(), analysis.Analysis{Name: "a", Metrics: []analysis.Metric{m}})
			require.Len(t, evs, 1)
			require.NotNil(t, evs[0].Measurement)
			assert.Equal(t, tc.want, evs[0].Measurement.Limit)
		})
	}
}

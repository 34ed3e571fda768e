package judge

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTwoProportionEdges(t *testing.T) {
	opts := DefaultProportionOptions()
	for _, tt := range []struct {
		name           string
		eb, nb, ec, nc int64
		dir            Direction
		want           Decision
	}{
		{"no errors anywhere", 0, 1000, 0, 1000, Increase, Pass},
		{"only errors", 1000, 1000, 500, 500, Either, Pass},
		{"errors only in the canary", 0, 1000, 30, 1000, Increase, High},
		{"errors only in the baseline", 30, 1000, 0, 1000, Either, Low},
		{"errors only in the baseline, Increase", 30, 1000, 0, 1000, Increase, Pass},
		{"errors only in the canary, Decrease", 0, 1000, 30, 1000, Decrease, Pass},
		{"too few baseline requests", 0, 29, 5, 1000, Increase, NoData},
		{"no canary requests", 0, 1000, 0, 0, Increase, NoData},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts.Direction = tt.dir
			r, err := TwoProportion(tt.eb, tt.nb, tt.ec, tt.nc, opts)
			require.NoError(t, err)
			assert.Equal(t, tt.want, r.Decision)
			for _, v := range []float64{r.BaselineRate, r.CanaryRate, r.PooledRate, r.Diff, r.Lower, r.Upper, r.Z, r.PValue} {
				assert.False(t, math.IsNaN(v) || math.IsInf(v, 0), "%+v", r)
			}
		})
	}
}

func TestTwoProportionErrors(t *testing.T) {
	opts := DefaultProportionOptions()
	for _, tt := range []struct {
		field          string
		eb, nb, ec, nc int64
		modify         func(*ProportionOptions)
	}{
		{"totalBaseline", 0, -1, 0, 10, nil},
		{"errBaseline", -1, 10, 0, 10, nil},
		{"errCanary", 0, 10, 11, 10, nil},
		{"totalCanary", 0, 10, 0, -5, nil},
		{"Confidence", 0, 10, 0, 10, func(o *ProportionOptions) { o.Confidence = 1.5 }},
		{"MinTotal", 0, 10, 0, 10, func(o *ProportionOptions) { o.MinTotal = 0 }},
		{"Direction", 0, 10, 0, 10, func(o *ProportionOptions) { o.Direction = -1 }},
	} {
		o := opts
		if tt.modify != nil {
			tt.modify(&o)
		}
		_, err := TwoProportion(tt.eb, tt.nb, tt.ec, tt.nc, o)
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%s: %v", tt.field, err)
		assert.Equal(t, tt.field, ce.Field)
	}
}

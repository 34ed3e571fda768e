package judge

import (
	"math"
	"slices"
)

// SampleSummary describes one sample as judged, after cleaning.
type SampleSummary struct {
	// N is the number of values judged.
	N int
	// Median of the judged values; 0 when N is 0.
	Median float64
	// NonFinite counts the NaN and infinite values removed or replaced.
	NonFinite int
	// Outliers counts the values dropped by the IQR rule.
	Outliers int
}

// clean returns a sorted copy of values after the NaN strategy and the
// outlier rule of o, and a summary. The input is not modified.
func clean(values []float64, o MannWhitneyOptions) ([]float64, SampleSummary) {
	var s SampleSummary
	out := make([]float64, 0, len(values))
	for _, v := range values {
		if isFinite(v) {
			out = append(out, v)
			continue
		}
		s.NonFinite++
		if o.NaNStrategy == ReplaceNaN {
			out = append(out, o.NaNValue)
		}
	}
	slices.Sort(out)
	if o.RemoveOutliers && len(out) > 0 {
		q1, q3 := quantileSorted(out, 0.25), quantileSorted(out, 0.75)
		iqr := q3 - q1
		lo, hi := q1-o.OutlierFactor*iqr, q3+o.OutlierFactor*iqr
		// out is sorted: the kept values are a contiguous run.
		first, _ := slices.BinarySearch(out, lo) // first index with out[i] >= lo
		last := len(out)
		for last > first && out[last-1] > hi {
			last--
		}
		s.Outliers = len(out) - (last - first)
		out = out[first:last]
	}
	s.N = len(out)
	if s.N > 0 {
		s.Median = quantileSorted(out, 0.5)
	}
	return out, s
}

// quantileSorted is the q-quantile of sorted, non-empty x by linear
// interpolation between order statistics (R's type 7, NumPy's default).
func quantileSorted(x []float64, q float64) float64 {
	h := q * float64(len(x)-1)
	i := int(math.Floor(h))
	if i >= len(x)-1 {
		return x[len(x)-1]
	}
	return x[i] + (h-float64(i))*(x[i+1]-x[i])
}

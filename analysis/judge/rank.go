package judge

// uStat is the Mann-Whitney U statistic of canary+shift against baseline,
// computed from both samples sorted ascending by a single merge: O(n1 + n2).
//
// u counts the pairs where the shifted canary value is larger, ties counting
// one half; it is the statistic of scipy.stats.mannwhitneyu(canary+shift,
// baseline). tieTerm is Σ(t³ - t) over the groups of equal values in the
// pooled sample, for the variance correction; ties reports any such group.
func uStat(baseline, canary []float64, shift float64) (u, tieTerm float64, ties bool) {
	i, j := 0, 0
	n1, n2 := len(baseline), len(canary)
	for i < n1 || j < n2 {
		// The smallest value not yet merged.
		var v float64
		switch {
		case i == n1:
			v = canary[j] + shift
		case j == n2:
			v = baseline[i]
		default:
			v = min(baseline[i], canary[j]+shift)
		}
		below := i // baseline values strictly smaller than v
		tb, tc := 0, 0
		for i < n1 && baseline[i] == v {
			i++
			tb++
		}
		for j < n2 && canary[j]+shift == v {
			j++
			tc++
		}
		u += float64(tc)*float64(below) + 0.5*float64(tc)*float64(tb)
		if t := float64(tb + tc); t > 1 {
			ties = true
			tieTerm += t*t*t - t
		}
	}
	return u, tieTerm, ties
}

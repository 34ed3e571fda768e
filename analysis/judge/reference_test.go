package judge

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mwReference is one Mann-Whitney case computed by established tools.
//
// Source: testdata/reference.py, run with Debian bookworm's python3-scipy
// (scipy 1.10.1, numpy 1.24.2) and r-base-core (R 4.2.2):
//   - wantU, wantP: the scipy call in call, canary first, so that U is the
//     canary's statistic;
//   - wantHL: numpy.median of numpy.subtract.outer(canary, baseline);
//   - rEstimate, rLower, rUpper, rP: R's
//     wilcox.test(canary, baseline, conf.int=TRUE, conf.level=0.98,
//     exact=rExact, correct=TRUE), which is what Kayenta's judge mirrors. R
//     is exact only below 50 values a sample without ties; its p-value is
//     two-sided whatever the case's direction.
type mwReference struct {
	name             string
	call             string
	baseline, canary []float64
	method           Method
	direction        Direction
	wantU, wantP     float64
	wantHL           float64
	rExact           bool
	rEstimate        float64
	rLower, rUpper   float64
	rP               float64
}

var mwReferences = []mwReference{
	{
		name:     "exact small two-sided",
		call:     "scipy.stats.mannwhitneyu(canary, baseline, alternative='two-sided', method='exact', use_continuity=True)",
		baseline: []float64{12.1, 13.4, 11.8, 14.2, 12.9, 13.1},
		canary:   []float64{14.8, 13.9, 15.2, 12.5, 16.0},
		method:   Exact, direction: Either,
		wantU: 25.0, wantP: 0.08225108225108226,
		wantHL: 1.7999999999999998, // numpy median of the 30 pairwise differences
		rExact: true, rEstimate: 1.7999999999999998, rLower: -0.5999999999999996, rUpper: 3.3999999999999986, rP: 0.08225108225108226,
	},
	{
		name:     "exact 8x8 one-sided greater",
		call:     "scipy.stats.mannwhitneyu(canary, baseline, alternative='greater', method='exact', use_continuity=True)",
		baseline: []float64{89.566, 77.305, 105.338, 89.184, 95.805, 103.397, 106.075, 88.82},
		canary:   []float64{123.711, 107.698, 122.598, 124.393, 107.218, 120.765, 135.671, 100.343},
		method:   Exact, direction: Increase,
		wantU: 61.0, wantP: 0.0005439005439005439,
		wantHL: 20.654999999999994, // numpy median of the 64 pairwise differences
		rExact: true, rEstimate: 20.654999999999994, rLower: 4.537999999999997, rUpper: 35.57300000000001, rP: 0.0010878010878010878,
	},
	{
		name:     "exact 10x7 one-sided less",
		call:     "scipy.stats.mannwhitneyu(canary, baseline, alternative='less', method='exact', use_continuity=True)",
		baseline: []float64{46.672, 56.494, 55.37, 48.97, 59.215, 50.094, 52.114, 43.13, 41.694, 61.806},
		canary:   []float64{46.62, 41.136, 51.526, 49.443, 39.775, 38.621, 38.715},
		method:   Exact, direction: Decrease,
		wantU: 11.0, wantP: 0.00925545043192102,
		wantHL: -8.003999999999994, // numpy median of the 70 pairwise differences
		rExact: true, rEstimate: -8.003999999999994, rLower: -16.719, rUpper: -0.0519999999999996, rP: 0.01851090086384204,
	},
	{
		name:     "exact unequal 3x20",
		call:     "scipy.stats.mannwhitneyu(canary, baseline, alternative='two-sided', method='exact', use_continuity=True)",
		baseline: []float64{8.6901, 12.029, 12.3362},
		canary:   []float64{9.1373, 11.9804, 10.7828, 10.0384, 11.7953, 7.2171, 8.7483, 10.6874, 8.5825, 6.7223, 12.0655, 10.6868, 11.4481, 17.0644, 11.444, 14.3215, 11.0735, 10.3708, 8.189, 10.6199},
		method:   Exact, direction: Either,
		wantU: 21.0, wantP: 0.4573687182382834,
		wantHL: -0.7365499999999994, // numpy median of the 60 pairwise differences
		rExact: true, rEstimate: -0.7365499999999994, rLower: -3.84, rUpper: 3.2903000000000002, rP: 0.4573687182382834,
	},
	{
		name:     "exact 25x25 two-sided",
		call:     "scipy.stats.mannwhitneyu(canary, baseline, alternative='two-sided', method='exact', use_continuity=True)",
		baseline: []float64{185.718, 174.568, 214.804, 218.819, 215.125, 176.759, 187.276, 164.17, 224.852, 237.084, 192.297, 204.625, 236.504, 212.704, 143.061, 196.29, 179.483, 195.264, 200.472, 177.667, 182.828, 209.323, 209.022, 224.588, 215.368},
		canary:   []float64{200.002, 308.171, 226.033, 239.369, 232.759, 261.146, 232.72, 143.039, 218.422, 261.021, 180.341, 194.569, 252.778, 188.713, 247.89, 189.39, 219.565, 295.832, 255.314, 218.057, 206.782, 187.882, 218.616, 240.446, 175.87},
		method:   Exact, direction: Either,
		wantU: 447.0, wantP: 0.008486247030436102,
		wantHL: 23.39699999999999, // numpy median of the 625 pairwise differences
		rExact: true, rEstimate: 23.39699999999999, rLower: 2.865000000000009, rUpper: 44.821, rP: 0.008486247030436106,
	},
	{
		name:     "exact 40x60 greater, beyond the default ExactMax",
		call:     "scipy.stats.mannwhitneyu(canary, baseline, alternative='greater', method='exact', use_continuity=True)",
		baseline: []float64{0.88247, 1.11332, 1.16078, 1.11078, 0.67389, 0.87823, 1.04166, 0.73109, 1.17039, 1.05234, 0.98353, 0.71681, 1.02879, 1.39145, 0.69681, 0.97696, 1.05209, 0.98975, 1.00445, 1.13702, 0.91556, 1.10431, 1.07977, 1.00914, 1.12484, 0.66655, 1.23407, 0.97177, 1.01236, 1.00976, 1.19391, 0.91879, 1.04815, 1.28899, 1.0898, 1.13234, 0.99522, 0.90078, 0.94086, 0.85657},
		canary:   []float64{1.28991, 1.14644, 1.41633, 0.90607, 1.20701, 0.99176, 1.52855, 1.1542, 1.09437, 1.74482, 1.05246, 1.35605, 1.50255, 1.29794, 1.35156, 1.28207, 1.08902, 0.93087, 1.25669, 1.40405, 1.14086, 1.35143, 1.56034, 1.30822, 1.50506, 1.37505, 1.01705, 1.31689, 1.0341, 1.20031, 1.44537, 1.22905, 1.10701, 0.94602, 1.10007, 0.93833, 1.21164, 1.33015, 1.27022, 1.14954, 1.16642, 1.32723, 1.14257, 1.27745, 1.07565, 1.48239, 1.27593, 1.51375, 1.79309, 1.21421, 1.21287, 1.26771, 1.03528, 0.75473, 1.43907, 1.1086, 1.30407, 1.31935, 0.79724, 1.24938},
		method:   Exact, direction: Increase,
		wantU: 1968.0, wantP: 6.898804141857309e-09,
		wantHL: 0.22457, // numpy median of the 2400 pairwise differences
		rExact: false, rEstimate: 0.2245683782206782, rLower: 0.13734416067559765, rUpper: 0.3111120636489847, rP: 6.659961805064095e-08,
	},
	{
		name:     "asymptotic ties 12x15 two-sided",
		call:     "scipy.stats.mannwhitneyu(canary, baseline, alternative='two-sided', method='asymptotic', use_continuity=True)",
		baseline: []float64{7.0, 1.0, 7.0, 3.0, 6.0, 2.0, 4.0, 7.0, 2.0, 5.0, 6.0, 2.0},
		canary:   []float64{9.0, 8.0, 9.0, 7.0, 7.0, 3.0, 5.0, 8.0, 9.0, 6.0, 2.0, 4.0, 6.0, 5.0, 3.0},
		method:   Asymptotic, direction: Either,
		wantU: 127.0, wantP: 0.07251354873607292,
		wantHL: 2.0, // numpy median of the 180 pairwise differences
		rExact: false, rEstimate: 1.9999771150490742, rLower: -0.9999577711780205, rUpper: 4.000071568454514, rP: 0.07251354873607292,
	},
	{
		name:     "asymptotic heavy ties 40x30 less",
		call:     "scipy.stats.mannwhitneyu(canary, baseline, alternative='less', method='asymptotic', use_continuity=True)",
		baseline: []float64{1.0, 1.0, 2.0, 1.0, 4.0, 0.0, 1.0, 1.0, 3.0, 4.0, 4.0, 2.0, 1.0, 4.0, 1.0, 2.0, 3.0, 3.0, 3.0, 4.0, 3.0, 4.0, 4.0, 1.0, 1.0, 0.0, 3.0, 4.0, 0.0, 3.0, 1.0, 4.0, 3.0, 0.0, 3.0, 4.0, 4.0, 4.0, 1.0, 2.0},
		canary:   []float64{3.0, 0.0, 2.0, 2.0, 1.0, 1.0, 3.0, 3.0, 2.0, 1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 1.0, 3.0, 0.0, 3.0, 3.0, 1.0, 0.0, 2.0, 3.0, 2.0, 1.0, 1.0, 2.0, 1.0, 0.0},
		method:   Asymptotic, direction: Decrease,
		wantU: 433.5, wantP: 0.021395628826778965,
		wantHL: -1.0, // numpy median of the 1200 pairwise differences
		rExact: false, rEstimate: -0.9999385278080073, rLower: -1.000002209264168, rUpper: 7.585054457989359e-05, rP: 0.04279125765355796,
	},
	{
		name:     "asymptotic small without ties 9x11",
		call:     "scipy.stats.mannwhitneyu(canary, baseline, alternative='two-sided', method='asymptotic', use_continuity=True)",
		baseline: []float64{3.124, -1.17, -1.586, -1.065, -0.302, -0.249, -0.399, -1.309, -1.512},
		canary:   []float64{0.34, 0.49, 0.225, -0.221, 0.997, 2.182, 1.347, 1.217, 0.778, 1.477, 0.776},
		method:   Asymptotic, direction: Either,
		wantU: 88.0, wantP: 0.0038893266021031467,
		wantHL: 1.66, // numpy median of the 99 pairwise differences
		rExact: false, rEstimate: 1.6599901694414747, rLower: 0.6419977857792281, rUpper: 2.5170174941240027, rP: 0.003889326602103152,
	},
	{
		name:     "asymptotic large 60x80 two-sided",
		call:     "scipy.stats.mannwhitneyu(canary, baseline, alternative='two-sided', method='asymptotic', use_continuity=True)",
		baseline: []float64{11.365, 13.227, 7.442, 13.704, 16.327, 38.996, 8.45, 26.809, 16.343, 10.741, 22.049, 29.264, 25.735, 17.691, 31.026, 20.55, 12.022, 36.207, 10.151, 27.787, 12.964, 19.492, 33.636, 34.319, 35.694, 24.189, 24.562, 27.473, 20.052, 12.807, 56.506, 20.98, 8.381, 21.043, 17.47, 22.431, 15.361, 22.821, 51.349, 14.633, 35.324, 25.903, 43.538, 50.076, 18.74, 9.131, 44.572, 14.726, 11.75, 9.48, 8.847, 24.959, 14.081, 27.563, 17.077, 12.779, 21.456, 11.142, 14.015, 20.148},
		canary:   []float64{36.243, 34.001, 39.218, 41.344, 32.413, 11.633, 23.139, 41.576, 15.008, 37.795, 37.804, 42.854, 24.796, 21.905, 33.712, 25.745, 39.435, 19.495, 18.023, 21.478, 30.432, 17.979, 16.578, 17.466, 16.856, 19.88, 32.552, 18.777, 11.317, 87.607, 22.361, 35.78, 24.414, 13.747, 26.556, 15.043, 20.811, 30.12, 60.8, 28.531, 32.313, 26.476, 23.772, 28.257, 21.233, 22.332, 18.769, 36.766, 33.962, 26.597, 21.208, 31.941, 44.177, 36.943, 11.844, 23.221, 15.447, 12.352, 15.594, 13.418, 41.37, 16.739, 19.028, 16.05, 57.426, 26.121, 27.207, 50.174, 35.441, 19.451, 28.284, 33.545, 23.312, 27.048, 44.828, 50.674, 45.285, 17.782, 54.916, 79.531},
		method:   Asymptotic, direction: Either,
		wantU: 3228.0, wantP: 0.0004932351528094835,
		wantHL: 6.508499999999999, // numpy median of the 4800 pairwise differences
		rExact: false, rEstimate: 6.508758750988681, rLower: 2.2689358395473995, rUpper: 10.967040828145677, rP: 0.0004932351528094833,
	},
	{
		name:     "asymptotic large 100x120 greater",
		call:     "scipy.stats.mannwhitneyu(canary, baseline, alternative='greater', method='asymptotic', use_continuity=True)",
		baseline: []float64{26.7, 86.8, 131.4, 56.6, 171.0, 131.2, 87.8, 68.6, 61.5, 107.3, 159.7, 201.3, 92.2, 63.1, 315.4, 235.3, 361.7, 130.9, 174.5, 87.3, 80.4, 102.4, 10.9, 196.3, 56.9, 21.9, 27.1, 40.3, 97.4, 245.2, 77.2, 149.4, 46.9, 105.8, 174.1, 60.8, 64.0, 225.8, 83.3, 52.6, 32.0, 155.6, 14.2, 90.7, 57.0, 46.5, 34.7, 17.8, 112.6, 26.4, 47.8, 16.5, 112.0, 74.9, 53.4, 62.6, 82.7, 99.0, 167.8, 25.5, 199.7, 78.3, 106.4, 115.9, 186.2, 82.2, 52.2, 101.6, 84.5, 89.8, 22.7, 177.0, 308.8, 60.3, 61.6, 88.2, 12.2, 100.3, 46.7, 39.1, 107.3, 55.4, 30.2, 159.1, 114.2, 185.3, 24.4, 252.5, 46.9, 149.2, 195.0, 262.6, 144.2, 108.5, 101.1, 32.2, 80.2, 204.8, 152.2, 57.1},
		canary:   []float64{39.6, 15.9, 100.4, 82.4, 21.7, 40.0, 14.0, 145.0, 114.2, 74.6, 256.2, 57.8, 92.0, 60.3, 192.1, 9.5, 158.1, 223.3, 122.1, 80.6, 147.9, 254.8, 250.2, 48.8, 493.7, 273.1, 171.8, 191.5, 193.2, 87.2, 111.3, 36.8, 230.3, 151.0, 63.5, 10.8, 33.8, 85.3, 100.5, 13.3, 99.6, 158.7, 135.9, 37.2, 72.4, 159.2, 336.5, 126.9, 85.0, 184.7, 127.6, 61.4, 42.8, 113.7, 114.2, 94.6, 127.9, 19.0, 72.9, 90.3, 50.3, 266.6, 183.4, 70.3, 68.5, 30.0, 94.0, 118.8, 126.4, 129.3, 109.5, 89.9, 58.5, 118.8, 105.8, 112.6, 124.5, 52.5, 64.0, 94.4, 138.9, 402.4, 91.5, 211.0, 270.0, 71.1, 125.4, 113.1, 42.5, 189.0, 40.8, 229.8, 201.6, 14.1, 159.2, 373.8, 174.8, 108.6, 170.0, 157.7, 110.5, 129.3, 95.2, 203.5, 72.2, 81.2, 154.9, 316.7, 356.5, 252.0, 159.3, 48.4, 92.6, 131.2, 1.3, 79.0, 367.3, 258.6, 166.0, 148.3},
		method:   Asymptotic, direction: Increase,
		wantU: 7076.5, wantP: 0.011043955654354896,
		wantHL: 21.6, // numpy median of the 12000 pairwise differences
		rExact: false, rEstimate: 21.59999653446591, rLower: -0.30004090913978854, rUpper: 43.699910783166935, rP: 0.022087911308709806,
	},
	{
		name:     "asymptotic 30x30 greater with a value repeated in the canary",
		call:     "scipy.stats.mannwhitneyu(canary, baseline, alternative='greater', method='asymptotic', use_continuity=True)",
		baseline: []float64{3.327, 6.555, 3.258, 5.734, 5.154, 5.05, 5.387, 7.687, 3.722, 5.683, 6.304, 5.574, 6.658, 5.275, 4.151, 5.214, 4.443, 6.345, 3.806, 5.036, 6.39, 3.771, 4.615, 4.638, 4.211, 5.702, 6.176, 3.908, 5.551, 3.906},
		canary:   []float64{5.5, 5.5, 5.5, 6.525, 6.391, 5.334, 5.353, 4.096, 4.776, 4.565, 2.877, 4.681, 7.462, 7.107, 4.875, 4.94, 4.899, 5.211, 4.451, 4.546, 6.237, 5.364, 7.356, 5.38, 3.622, 5.533, 6.262, 6.493, 5.689, 5.267},
		method:   Asymptotic, direction: Increase,
		wantU: 507.0, wantP: 0.20175570418842687,
		wantHL: 0.2839999999999998, // numpy median of the 900 pairwise differences
		rExact: false, rEstimate: 0.283979358805735, rLower: -0.3760470305688256, rUpper: 1.0230418856714194, rP: 0.4035114083768538,
	},
}

// propReference: errBaseline, totalBaseline, errCanary, totalCanary,
// direction, and the pooled z, its p-value and the 98% Wald interval of the
// difference, computed by hand in testdata/reference.py with
// scipy.stats.norm (scipy 1.10.1): z = (pc-pb)/sqrt(p(1-p)(1/nb+1/nc)),
// p-value norm.sf(z), norm.cdf(z) or 2·norm.sf(|z|), interval
// pc-pb ± norm.ppf(0.99)·sqrt(pb(1-pb)/nb + pc(1-pc)/nc).
var propReferences = []struct {
	eb, nb, ec, nc int64
	direction      Direction
	z, p, lo, hi   float64
}{
	{10, 1000, 25, 1000, Increase, 2.557943557892809, 0.005264659032641463, 0.0013804301967944872, 0.028619569803205513},
	{50, 10000, 40, 10000, Either, -1.0564722962855182, 0.29075249130535663, -0.003201934654067096, 0.001201934654067096},
	{0, 500, 3, 500, Increase, 1.7346547441043507, 0.04140098835899241, -0.0020344929381770054, 0.014034492938177006},
	{120, 1000, 80, 1000, Decrease, -2.9814239699997187, 0.0014345563960383098, -0.07114179638436, -0.008858203615639989},
	{7, 3000, 9, 1200, Either, 2.455446690776004, 0.01407096209991293, -0.000979070659366527, 0.01131240399269986},
}

func relClose(t *testing.T, want, got, rel float64, msg string) {
	t.Helper()
	if math.Abs(got-want) > rel*math.Abs(want) {
		t.Errorf("%s: got %.17g, want %.17g (relative error %.3g)", msg, got, want, math.Abs(got-want)/math.Abs(want))
	}
}

func TestMannWhitneyReferences(t *testing.T) {
	require.GreaterOrEqual(t, len(mwReferences), 8)
	for _, c := range mwReferences {
		t.Run(c.name, func(t *testing.T) {
			opts := DefaultMannWhitneyOptions()
			opts.Tolerance = 0
			opts.MinSamples = 1
			opts.Method = c.method
			opts.Direction = c.direction
			r, err := MannWhitney(c.baseline, c.canary, opts)
			require.NoError(t, err)
			assert.Equal(t, c.method == Exact, r.Exact, "exact")
			assert.Equal(t, c.wantU, r.U, "U")
			relClose(t, c.wantP, r.PValue, 1e-9, "p-value vs "+c.call)
			assert.InDelta(t, c.wantHL, r.Effect.Estimate, 1e-12, "Hodges-Lehmann estimate")
			if c.rExact {
				// Both take order statistics of the pairwise differences.
				assert.Equal(t, c.rLower, r.Effect.Lower, "lower bound vs R")
				assert.Equal(t, c.rUpper, r.Effect.Upper, "upper bound vs R")
				assert.Equal(t, c.rEstimate, r.Effect.Estimate, "estimate vs R")
			} else {
				// R inverts the continuity-corrected normal statistic by
				// root finding; order statistics land on a neighbouring
				// difference. Allow a tenth of the interval's width.
				width := c.rUpper - c.rLower
				assert.InDelta(t, c.rLower, r.Effect.Lower, width/10, "lower bound vs R")
				assert.InDelta(t, c.rUpper, r.Effect.Upper, width/10, "upper bound vs R")
				t.Logf("interval [%.6g, %.6g], R [%.6g, %.6g]", r.Effect.Lower, r.Effect.Upper, c.rLower, c.rUpper)
			}
			// R's p-value is two-sided; compare when R used the same
			// distribution.
			if c.rExact == r.Exact {
				opts.Direction = Either
				two, err := MannWhitney(c.baseline, c.canary, opts)
				require.NoError(t, err)
				relClose(t, c.rP, two.PValue, 1e-9, "two-sided p-value vs R")
			}
		})
	}
}

func TestTwoProportionReferences(t *testing.T) {
	for _, c := range propReferences {
		opts := DefaultProportionOptions()
		opts.Direction = c.direction
		r, err := TwoProportion(c.eb, c.nb, c.ec, c.nc, opts)
		require.NoError(t, err)
		relClose(t, c.z, r.Z, 1e-12, "z")
		relClose(t, c.p, r.PValue, 1e-9, "p-value")
		relClose(t, c.lo, r.Lower, 1e-9, "lower")
		relClose(t, c.hi, r.Upper, 1e-9, "upper")
		want := Pass
		if c.p < 1-opts.Confidence {
			want = High
			if c.z < 0 {
				want = Low
			}
		}
		assert.Equal(t, want, r.Decision, "%+v", c)
	}
}

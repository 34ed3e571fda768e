package judge

import "math"

// normalSF is the upper tail P(Z > z) of the standard normal distribution,
// accurate in the far tail (no 1 - cdf cancellation).
func normalSF(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// normalCDF is P(Z <= z) of the standard normal distribution.
func normalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// normalQuantile is the z with P(Z <= z) = p, for 0 < p < 1.
func normalQuantile(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }

// Package judge holds the statistical judges of canary analysis: they compare
// a canary's measurements with its baseline's and say Pass, High, Low or
// NoData, and they combine many such decisions into one score. It is pure
// computation on numbers (standard library only), with no I/O, clocks or
// goroutines, so every function is deterministic and safe for concurrent use
// unless its documentation says otherwise.
//
// # Judges
//
//   - MannWhitney: the Mann-Whitney U (Wilcoxon rank-sum) test of Kayenta's
//     NetflixACAJudge, with the Hodges-Lehmann location shift and its
//     confidence interval, a direction (Increase, Decrease, Either), a
//     tolerance relative to the baseline median, NaN handling, IQR outlier
//     removal and a minimum sample size. P-values are exact for small samples
//     without ties and otherwise normal approximations with tie and
//     continuity corrections; they match scipy.stats.mannwhitneyu and the
//     intervals R's wilcox.test (see reference_test.go).
//   - TwoProportion: the pooled two-proportion z-test for error ratios
//     (errors out of requests on each side).
//   - SPRT: Wald's sequential probability ratio test on an error ratio, fed one
//     interval at a time, to stop a clearly bad (or clearly good) canary
//     early.
//
// # Scores
//
// Score combines metric decisions as Kayenta does: per group
// pass / (pass + high + low + nodata-fail) × 100, a weighted mean over groups,
// thresholds for Pass and Marginal, and score 0 when a critical metric fails.
// ScoreResult.Reason says in one line why.
//
// # Semantics worth knowing
//
//   - Kayenta's defaults (DefaultMannWhitneyOptions): confidence 0.98 and
//     tolerance 0.25. The tolerance makes the judge blind to shifts below 25%
//     of the baseline median by design; with samples of 50 and a coefficient
//     of variation of 0.2, a 30% shift of the mean is caught about one time in
//     seven (see TestMannWhitneyPower). Lower the tolerance for sensitive
//     metrics.
//   - The U test compares locations: a canary with the same median but a much
//     wider spread passes (Kayenta issue #780).
//   - Too little data is NoData, not Pass: MinSamples (default 5) for
//     MannWhitney and MinTotal (default 30 requests) for TwoProportion.
//     NoData fails a metric in Score only with MustHaveData.
//   - Invalid options or arguments return a *ConfigError naming the field.
package judge

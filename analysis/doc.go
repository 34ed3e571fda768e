// Package analysis judges a new version from measurements, with the
// semantics of Argo Rollouts' AnalysisTemplates and the statistics of
// Kayenta: metrics measured by providers, success and failure conditions
// with limits, and phases that blue/green and canary releases act on.
//
// The entry point is Analysis: Validate checks a spec, Run measures it and
// returns a Report, and Check wraps it as a strategy.Check (nil when
// Successful, an error matching strategy.ErrInconclusive when Inconclusive,
// a *Failure matching strategy.ErrAnalysisFailed when Failed or Error).
//
// # Providers
//
// A Provider measures a query now and returns a value or a sample set, or
// no data. Built in: Func (any Go function) here;
// analysis/prometheus (PromQL over the HTTP API), analysis/web (HTTP and a
// JSONPath), analysis/job (a Kubernetes Job's outcome) and analysis/kube
// (restarts and readiness flaps of the candidate's pods). Queries are
// templates over Vars: {{.Revision}}, {{.Stable}}, {{.Namespace}},
// {{.App}}, {{.Slot}}, {{.Service}} and {{arg "name"}}. A provider that
// keeps state for a run (the pod counts of analysis/kube) is an Opener; one
// whose measurement lasts (a Job) is a Starter, polled on the clock so that
// a fake clock can move meanwhile.
//
// # Metrics and phases
//
// A Metric is a provider and a query, an interval, a count, an initial
// delay, conditions (CEL over result, or Go predicates and the thresholds
// Above, AtLeast, Below and AtMost), a no-data policy and limits. The
// defaults are Argo's: FailureLimit 0 and InconclusiveLimit 0 (the first
// failed or inconclusive measurement decides), ConsecutiveErrorLimit 4,
// Keep 10 measurements in the report, errors retried after 10s. A count of
// 0 with an interval measures until the context ends; no interval takes
// one measurement. See Metric for how a measurement is judged.
//
// Phases are Pending, Running, Successful, Failed, Error and Inconclusive.
// A run takes the worst phase of its metrics (Successful < Running <
// Pending < Inconclusive < Error < Failed); dry-run metrics are reported
// but never count. The first metric that is Failed, Error or Inconclusive
// decides the run and stops the others. Inconclusive never passes: a
// strategy pauses on it. No data (an empty vector, a missing JSON field,
// an empty sample set) is Inconclusive unless the metric's NoData policy
// says Failure or Success. Unlike Argo, errors do not count toward a
// metric's count, so a metric that only errored cannot pass.
//
// # Judges
//
// The statistical judges of analysis/judge are providers too, each
// measuring other providers: Compare (Mann-Whitney U, baseline against
// canary samples), Proportion (two-proportion z-test of error ratios),
// Sequential (Wald's SPRT, fails a clearly bad canary after a few
// intervals and passes a clearly good one early) and Score (Kayenta's
// weighted group score with pass and marginal thresholds). A provider that
// judges for itself returns a verdict instead of a value for conditions.
//
// # Time and reports
//
// Every wait is on CheckInput.Clock and every measurement is taken in a
// Clock.AfterFunc callback, so a fake clock in auto-advance mode runs an
// hour of analysis in milliseconds. Each measurement is emitted as a
// strategy.EventMeasurement through CheckInput.Emit and kept in the Report
// (the latest Keep per metric), whose Message says in one line why, such
// as "metric error-rate failed 3 of 3 times (limit 2): result 0.071 > 0.05".
//
// # Secrets
//
// Nothing a run shows holds a secret: measurement messages and raw
// results (kept in the report and the release record, and emitted as
// events, which strategies log) and the errors of the built-in providers
// pass through Redact and RedactError, which mask URL passwords, query
// values whose name looks secret (api_key, token, password, signature…;
// see SecretName), "Bearer …" credentials, and any secret value the
// provider knows (a bearer token, a secret header's value) wherever a
// server echoes it. The *url.Error values of net/http, which carry the
// whole request URL, are rewritten with the URL masked. A provider of the
// caller's own should return errors through RedactError with its secrets.
//
// # Limits
//
// Results are numbers: a JSON string must hold a number and a boolean is 1
// or 0. A measurement's provider call is not bounded by the analysis
// itself; the providers have their own timeouts. A background analysis is
// a Run whose context the caller ends.
package analysis

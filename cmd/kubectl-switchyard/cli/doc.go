// Package cli is the kubectl plugin "kubectl switchyard": it shows and
// steers the releases switchyard records, with no Go to write. Command
// kubectl-switchyard runs it; the entry point is Run
// (NewCommand for the cobra command), with streams, a Kubernetes client
// (WithKube) and a clock (WithClock) that tests and other programs inject.
//
// Every command acts through strategy.Control, on the app's release record
// (the ConfigMap <app>.switchyard); none writes the record itself:
//
//   - list [-A]: app, strategy, revision, phase, step, weight and age of
//     each release of a namespace (Control.List);
//   - status APP: where a release is, its lease, pending requests, latest
//     measurements, history, and the commands that apply now;
//   - history APP: the revisions the record keeps, oldest first;
//   - watch APP: follows the release on a watch of its record
//     (Control.Await) until it reaches a terminal phase, redrawing in
//     place on a terminal and appending one line per change otherwise;
//   - promote [--full], pause, resume, abort, retry, undo [--to REV]: print
//     where the release is and the request, send it, and say who carries
//     it out; with --wait, wait (at most --timeout) until the driver took
//     it or the release ended;
//   - timeline APP [-o text|svg|json]: what the release did, from the
//     timeline its record keeps, as text or drawn as SVG (strategy/timeline).
//
// list, status, history and the requests take -o json or -o yaml; a
// request then prints the resulting status (ReleaseStatus) and writes its
// notes to stderr. The usual kubectl flags select the cluster:
// --kubeconfig, --context and -n/--namespace (default: the context's).
//
// # Exit codes
//
//   - 0 (ExitOK): done; for watch and --wait, the release succeeded or goes on.
//   - 1 (ExitError): any other error: the cluster could not be reached, a
//     forbidden call (the message names the verbs; docs/rbac.md lists the
//     roles), a corrupt record, a --timeout that passed.
//   - 2 (ExitUsage): bad arguments or flags.
//   - 3 (ExitNotFound): the app has no release record.
//   - 4 (ExitRefused): the release refused the request (strategy.ErrNotApplicable,
//     or an Undo to a revision not in its history); the message gives the
//     reason and what to do.
//   - 5 (ExitReleaseFailed): watch or --wait saw the release end Aborted or
//     Failed, other than as the request asked (abort --wait ending Aborted,
//     an undo --wait superseding the release, exit 0).
//   - 130 (ExitInterrupted): Ctrl-C or SIGTERM.
//
// # Limits
//
// The record holds no traffic split, so the weight shows as "-"; a
// canary's step list is known only as far as the watch has seen it, since
// the record does not hold the spec (blue/green's and rolling's steps are
// fixed and listed in full).
package cli

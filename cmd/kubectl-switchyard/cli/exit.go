package cli

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Exit codes of the commands, for scripts.
const (
	// ExitOK: the command did what it was asked; for watch and --wait,
	// the release succeeded or is still going.
	ExitOK = 0
	// ExitError: any other error (the cluster could not be reached, a
	// forbidden call, a corrupt record, a --timeout that passed).
	ExitError = 1
	// ExitUsage: bad arguments or flags.
	ExitUsage = 2
	// ExitNotFound: the app has no release record.
	ExitNotFound = 3
	// ExitRefused: the release refused the request (it does not apply in
	// its phase, or Undo names a revision not in its history).
	ExitRefused = 4
	// ExitReleaseFailed: watch or --wait saw the release end Aborted or
	// Failed, other than as the request asked (abort --wait ending
	// Aborted, or undo --wait superseding the release, exits 0).
	ExitReleaseFailed = 5
	// ExitInterrupted: stopped by Ctrl-C (SIGINT) or SIGTERM, as a shell
	// reports a command a signal ended.
	ExitInterrupted = 130
)

// exitError is an error with the exit code it ends the command with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode returns the exit code for an error a command returned: nil is
// ExitOK, an error with no code of its own ExitError.
func ExitCode(err error) int {
	var e *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &e):
		return e.code
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	}
	return ExitError
}

func withCode(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

func usageErrorf(format string, args ...any) error {
	return withCode(ExitUsage, format, args...)
}

// explain turns an error of a read or a request on app's release record
// into one that says what to do, with its exit code. verbs are the
// permissions on configmaps the command needs.
func explain(err error, app types.NamespacedName, verbs string) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	name := strategy.RecordName(app.Name)
	switch {
	case errors.As(err, &ee):
		return err
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, strategy.ErrNoRecord):
		return withCode(ExitNotFound, "no release of %s in %s: has it ever been Run? "+
			"(kubectl switchyard list -n %s lists the releases there)", app.Name, app.Namespace, app.Namespace)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("forbidden: this command needs %s on configmaps (the release record %s) in namespace %s; "+
			"docs/rbac.md lists the roles (rbac.Control is the one for operators): %w", verbs, name, app.Namespace, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("unauthorized: the cluster rejected the credentials of the kubeconfig; log in again or choose a context with --context: %w", err)
	case errors.Is(err, strategy.ErrForeignRecord):
		return fmt.Errorf("%w; ConfigMap %s in %s is not a switchyard release record (no switchyard labels), so it is never read or written: rename it or choose another app name", err, name, app.Namespace)
	case errors.Is(err, strategy.ErrCorruptRecord):
		return fmt.Errorf("%w; the record is left as it is: inspect it with kubectl get configmap %s -n %s -o yaml", err, name, app.Namespace)
	}
	return err
}

// explainList is explain for a listing of namespace ("" for all).
func explainList(err error, namespace string) error {
	if err == nil || !apierrors.IsForbidden(err) {
		return explain(err, types.NamespacedName{Namespace: namespace}, "list")
	}
	where := "in namespace " + namespace
	if namespace == "" {
		where = "in all namespaces (a ClusterRole, or leave out -A)"
	}
	return fmt.Errorf("forbidden: list needs list on configmaps %s; docs/rbac.md lists the roles (rbac.Control is the one for operators): %w", where, err)
}

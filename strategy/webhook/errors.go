package webhook

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrRejected is matched by the error of a check whose endpoint rejected
// the release: a {"decision": "reject"} answer, or for a Confirm a 403 or
// 409 status.
var ErrRejected = errors.New("rejected by the webhook")

// ResponseError is an answer of an endpoint that fails a check or a
// notification. Its fields never hold a secret of the request.
type ResponseError struct {
	// URL is the endpoint's, secrets masked.
	URL        string
	StatusCode int
	// Decision is the body's decision, if any; Reject also stands for a
	// Confirm's 403 or 409 answer.
	Decision Decision
	// Detail is the answer's reason or the start of the body, on one line,
	// secrets masked.
	Detail string
}

func (e *ResponseError) Error() string {
	s := fmt.Sprintf("POST %s: %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Decision != "" {
		s += fmt.Sprintf(", decision %q", e.Decision)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is reports whether target is ErrRejected and the endpoint rejected.
func (e *ResponseError) Is(target error) bool { return target == ErrRejected && e.Decision == Reject }

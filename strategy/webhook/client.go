package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/analysis"
)

const (
	userAgent = "switchyard-webhook"
	// maxBody is the most of an answer read; maxScan the most of it
	// searched for secrets, and maxDetail the most shown.
	maxBody   = 64 << 10
	maxScan   = 4 << 10
	maxDetail = 256
)

// endpoint sends signed JSON requests to one URL.
type endpoint struct {
	url     string
	shown   string // url with its secrets masked
	cfg     common
	secrets []string // masked wherever text is shown
	client  *http.Client
	own     bool // client is ours: its idle connections are closed after use
}

func newEndpoint(rawURL string, c common) *endpoint {
	e := &endpoint{url: rawURL, cfg: c, client: c.client}
	if e.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		e.client = &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
		e.own = true
	}
	e.secrets = analysis.SecretsOf(rawURL, c.header)
	if len(c.secret) > 0 {
		e.secrets = append(e.secrets, string(c.secret))
	}
	e.shown = e.redact(maskURL(rawURL))
	return e
}

// maskURL is analysis.RedactURL, which also masks what stands before an
// "@" in text without "://", such as "user:password@host/path": a URL
// missing its "//" that still carries credentials.
func maskURL(raw string) string {
	shown := analysis.RedactURL(raw)
	if at := strings.LastIndex(shown, "@"); at >= 0 && !strings.Contains(shown, "://") {
		shown = analysis.Mask + shown[at:]
	}
	return shown
}

// redact masks the endpoint's secrets, and anything that looks like one,
// in s.
func (e *endpoint) redact(s string) string { return analysis.Redact(s, e.secrets...) }

// checkURL reports why the URL is not an http or https URL with a host,
// secrets masked.
func (e *endpoint) checkURL() error {
	return analysis.RedactError(analysis.CheckURL(e.url), e.secrets...)
}

func (e *endpoint) closeIdle() {
	if e.own {
		e.client.CloseIdleConnections()
	}
}

// reply is the outcome of one request.
type reply struct {
	status int // 0 when there was no answer
	answer Answer
	detail string // the answer's reason or the body's start, masked
	// err is why there was no answer, secrets masked; it is the context's
	// error when ctx ended.
	err       error
	transient bool // another attempt may succeed
}

// send posts body, signed at now, and waits for the answer at most the
// attempt timeout on clk.
func (e *endpoint) send(ctx context.Context, clk clock.WithDelayedExecution, now time.Time, body []byte) reply {
	actx, cancel := analysis.WithTimeout(ctx, clk, e.cfg.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return reply{err: analysis.RedactError(err, e.secrets...)}
	}
	for k, vs := range e.cfg.header {
		req.Header[k] = slices.Clone(vs)
	}
	req.Header.Set("Content-Type", "application/json")
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	if len(e.cfg.secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(e.cfg.secret, now, body))
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return e.failed(ctx, actx, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return e.failed(ctx, actx, fmt.Errorf("reading the answer of POST %s: %w", e.shown, err))
	}
	r := reply{status: resp.StatusCode, transient: transientStatus(resp.StatusCode)}
	r.answer, r.detail = e.parse(data)
	return r
}

// failed is the reply of a request that got no answer.
func (e *endpoint) failed(ctx, actx context.Context, err error) reply {
	switch {
	case ctx.Err() != nil:
		return reply{err: ctx.Err()}
	case actx.Err() != nil:
		return reply{err: fmt.Errorf("POST %s: no answer within %s", e.shown, e.cfg.attemptTimeout), transient: true}
	}
	return reply{err: analysis.RedactError(err, e.secrets...), transient: !permanentTransport(err)}
}

// parse reads an Answer from a body, and what to show of it.
func (e *endpoint) parse(data []byte) (Answer, string) {
	var a Answer
	if json.Unmarshal(data, &a) != nil {
		a = Answer{}
	}
	a.Decision = Decision(strings.ToLower(strings.TrimSpace(string(a.Decision))))
	detail := a.Reason
	if detail == "" {
		detail = string(data)
	}
	if len(detail) > maxScan {
		detail = detail[:maxScan]
	}
	detail = strings.Join(strings.Fields(e.redact(detail)), " ")
	if len(detail) > maxDetail {
		detail = strings.ToValidUTF8(detail[:maxDetail], "") + "..."
	}
	a.Reason = detail
	return a, detail
}

// responseError describes r, an answer that fails.
func (e *endpoint) responseError(r reply) *ResponseError {
	return &ResponseError{URL: e.shown, StatusCode: r.status, Decision: r.answer.Decision, Detail: r.detail}
}

// transientStatus reports whether a status may change on its own: request
// timeouts, too early, too many requests and server errors.
func transientStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return code >= 500
}

// permanentTransport reports whether a request's error will not mend by
// itself: the server's certificate is not trusted.
func permanentTransport(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		host      x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &host) || errors.As(err, &invalid)
}

// newBackOff returns the waits between attempts: exponential with jitter,
// measured on clk.
func (c common) newBackOff(clk backoff.Clock) *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(c.initialBackoff),
		backoff.WithMaxInterval(c.maxBackoff),
		backoff.WithMaxElapsedTime(0),
		backoff.WithClockProvider(clk),
	)
}

// pause waits d on clk, or until ctx ends. Meanwhile the caller counts as
// idle for an auto-advancing fake clock (flow.Track): the timer marks
// it busy before it wakes it.
func pause(ctx context.Context, clk clock.WithDelayedExecution, d time.Duration, idle, busy func()) error {
	fired := make(chan struct{})
	t := clk.AfterFunc(d, func() {
		busy()
		close(fired)
	})
	idle()
	select {
	case <-fired:
		return nil
	case <-ctx.Done():
		if !t.Stop() {
			<-fired
		}
		busy()
		return ctx.Err()
	}
}

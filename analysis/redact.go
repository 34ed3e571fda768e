package analysis

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Mask stands in for a secret wherever switchyard shows text: errors,
// measurements, reports, events and logs. It is what net/url's
// URL.Redacted writes.
const Mask = "xxxxx"

// minSecret is the shortest secret value Redact replaces wherever it
// occurs; shorter ones would mask innocent text.
const minSecret = 4

// SecretName reports whether a query parameter, form field, JSON key or
// header name looks like it carries a secret: its lower-cased form
// contains key, token, secret, passw, pwd, auth, credential, session,
// cookie, signature or jwt, or is sig (so api_key, apikey, X-Api-Key,
// access_token, password, client_secret, Authorization,
// Proxy-Authorization, Cookie and X-Amz-Signature all do).
func SecretName(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "sig" {
		return true
	}
	for _, s := range secretWords {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

var secretWords = []string{"key", "token", "secret", "passw", "pwd", "auth", "credential", "session", "cookie", "signature", "jwt"}

// RedactHeader returns value, or Mask when the header name carries
// credentials (SecretName).
func RedactHeader(name, value string) string {
	if SecretName(name) {
		return Mask
	}
	return value
}

// RedactURL returns raw with its secrets masked: the password of its
// userinfo (the whole userinfo when it has no password, since a token
// often stands there), and the value of every query or fragment parameter
// whose name is a SecretName. It edits the text in place rather than
// re-encoding it, so templates and relative references ("/x?token=…")
// keep their shape and text that does not parse as a URL is masked too.
func RedactURL(raw string) string {
	rest := raw
	var b strings.Builder
	b.Grow(len(raw))
	if i := strings.Index(rest, "://"); i >= 0 {
		b.WriteString(rest[:i+3])
		rest = rest[i+3:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		authority := rest[:end]
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			user, _, hasPassword := strings.Cut(authority[:at], ":")
			if hasPassword {
				b.WriteString(user + ":" + Mask)
			} else {
				b.WriteString(Mask)
			}
			b.WriteString(authority[at:])
		} else {
			b.WriteString(authority)
		}
		rest = rest[end:]
	}
	q := strings.IndexAny(rest, "?#")
	if q < 0 {
		b.WriteString(rest)
		return b.String()
	}
	b.WriteString(rest[:q])
	rest = rest[q:]
	for rest != "" {
		// rest starts with a separator: ?, #, & or ;.
		b.WriteByte(rest[0])
		rest = rest[1:]
		end := strings.IndexAny(rest, "&;#")
		if end < 0 {
			end = len(rest)
		}
		b.WriteString(redactPair(rest[:end]))
		rest = rest[end:]
	}
	return b.String()
}

// redactPair masks the value of one "name=value" pair with a secret name.
func redactPair(pair string) string {
	name, _, ok := strings.Cut(pair, "=")
	if !ok {
		return pair
	}
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	if !SecretName(name) {
		return pair
	}
	return pair[:strings.Index(pair, "=")+1] + Mask
}

// SecretsOf returns the secret values of a URL and of request headers,
// for Redact and RedactError to mask wherever they appear: the userinfo's
// password (or its user when it has no password), the values of query and
// fragment parameters with a SecretName, and the values of headers with a
// SecretName, whole and without their scheme ("Bearer …"). rawURL may be
// empty; one that does not parse gives nothing (RedactURL still masks it).
func SecretsOf(rawURL string, header http.Header) []string {
	var out []string
	if u, err := url.Parse(rawURL); err == nil && rawURL != "" {
		if u.User != nil {
			if p, ok := u.User.Password(); ok {
				out = append(out, p)
			} else {
				out = append(out, u.User.Username())
			}
		}
		for _, part := range []string{u.RawQuery, u.EscapedFragment()} {
			vals, _ := url.ParseQuery(part)
			for name, vs := range vals {
				if SecretName(name) {
					out = append(out, vs...)
				}
			}
		}
	}
	for name, vs := range header {
		if !SecretName(name) {
			continue
		}
		for _, v := range vs {
			out = append(out, v)
			if _, cred, ok := strings.Cut(strings.TrimSpace(v), " "); ok {
				out = append(out, strings.TrimSpace(cred))
			}
		}
	}
	return out
}

var (
	// absoluteURL finds URLs with a scheme in text, without the
	// punctuation that ends a sentence or a clause after them.
	absoluteURL = regexp.MustCompile("[A-Za-z][A-Za-z0-9+.-]*://[^\\s\"'<>`]*[^\\s\"'<>`.,:;!?)\\]]")
	// namedValue finds name=value pairs (queries, forms, "key=value"
	// prose) and "name": "value" and name: value pairs (JSON, headers).
	namedValue = regexp.MustCompile(`(?i)("?)([A-Za-z0-9_.\-]+)("?\s*[=:]\s*"?)([^\s"&;,#<>'{}\[\]]+)`)
	// scheme finds the credentials of an Authorization value.
	scheme = regexp.MustCompile(`(?i)\b(bearer|basic|digest|token)(\s+)([A-Za-z0-9\-._~+/]+=*)`)
)

// Redact returns text with its secrets masked: in every URL it contains,
// as RedactURL does; the values of name=value and "name": "value" pairs
// whose name is a SecretName; the credentials after Bearer, Basic, Digest
// and Token; and every occurrence of each of secrets (values shorter than
// 4 bytes are left alone). Providers pass the secrets they know, such as
// a bearer token or a header value, so that a server echoing them back is
// masked too.
func Redact(text string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= minSecret {
			text = strings.ReplaceAll(text, s, Mask)
		}
	}
	if !mayHoldSecret(text) {
		return text
	}
	text = absoluteURL.ReplaceAllStringFunc(text, RedactURL)
	text = scheme.ReplaceAllString(text, "${1}${2}"+Mask)
	return namedValue.ReplaceAllStringFunc(text, func(m string) string {
		sub := namedValue.FindStringSubmatch(m)
		if !SecretName(sub[2]) || sub[4] == Mask || strings.HasPrefix(sub[4], "//") {
			return m
		}
		return sub[1] + sub[2] + sub[3] + Mask
	})
}

// mayHoldSecret is a fast test that text has nothing Redact would mask
// without being told the secrets.
func mayHoldSecret(text string) bool {
	if strings.ContainsAny(text, "=:") {
		return true
	}
	l := strings.ToLower(text)
	return strings.Contains(l, "bearer") || strings.Contains(l, "basic") || strings.Contains(l, "digest") || strings.Contains(l, "token")
}

// RedactError returns err with its text masked as Redact does, or err
// itself when nothing in it needs masking. The result matches what err
// matches with errors.Is, and errors.As finds the error types of err's
// chain whose text shows no secret, and copies of the *url.Error values
// (the errors of net/http, which carry the whole request URL) with their
// URL masked; errors.Unwrap never leads to an unmasked text.
func RedactError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	if ue, ok := err.(*url.Error); ok {
		return &url.Error{Op: ue.Op, URL: Redact(RedactURL(ue.URL), secrets...), Err: RedactError(ue.Err, secrets...)}
	}
	text := err.Error()
	masked := Redact(text, secrets...)
	if masked == text {
		return err
	}
	r := &redactedError{text: masked, orig: err}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			r.wrapped = append(r.wrapped, RedactError(e, secrets...))
		}
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			r.wrapped = []error{RedactError(e, secrets...)}
		}
	}
	return r
}

// redactedError is an error whose text had secrets masked.
type redactedError struct {
	text    string
	orig    error   // for Is only: its text is never shown
	wrapped []error // the redacted errors orig wraps
}

func (e *redactedError) Error() string { return e.text }

// Unwrap returns the redacted errors the original wraps.
func (e *redactedError) Unwrap() []error { return e.wrapped }

// Is reports whether the original error matches target.
func (e *redactedError) Is(target error) bool { return errors.Is(e.orig, target) }

package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries a request's signature when a secret is set.
const SignatureHeader = "X-Switchyard-Signature"

// DefaultTolerance is how far from the receiver's clock a signature's
// timestamp may be when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// ErrSignature is matched by every error of Verify.
var ErrSignature = errors.New("webhook signature invalid")

// Sign returns the SignatureHeader value of body sent at at:
// "t=<unix seconds>,v1=<hex>", where hex is the lower-case hexadecimal
// HMAC-SHA256 under secret of the decimal seconds, a period, and the body.
func Sign(secret []byte, at time.Time, body []byte) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a request's SignatureHeader value against its raw body:
// one of its v1 values must be the HMAC of the body under secret (several
// are allowed, for a rotation of secrets; other keys are ignored), and its
// timestamp at most tolerance away from now, before or after, against
// replays. A tolerance of zero or less is DefaultTolerance. Its errors
// match ErrSignature and never show the secret.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: no secret to verify with", ErrSignature)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: more than one timestamp", ErrSignature)
			}
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no valid timestamp", ErrSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrSignature)
	}
	want := mac(secret, ts, body)
	matched := false
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			matched = true
		}
	}
	if !matched {
		return fmt.Errorf("%w: no v1 signature matches the body", ErrSignature)
	}
	if d := now.Sub(time.Unix(secs, 0)).Abs(); d > tolerance {
		return fmt.Errorf("%w: timestamp %d is %s away, more than %s", ErrSignature, secs, d, tolerance)
	}
	return nil
}

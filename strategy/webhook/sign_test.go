package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/strategy/webhook"
)

func TestSignIsStripesScheme(t *testing.T) {
	t.Parallel()
	body := []byte(`{"check":"smoke"}`)
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("1767225600." + string(body)))
	assert.Equal(t, "t=1767225600,v1="+hex.EncodeToString(h.Sum(nil)), webhook.Sign(secret, start, body))
}

func TestVerify(t *testing.T) {
	t.Parallel()
	body := []byte(`{"check":"smoke"}`)
	good := webhook.Sign(secret, start, body)
	cases := map[string]struct {
		header string
		body   []byte
		secret []byte
		now    time.Time
		tol    time.Duration
		err    string // empty: valid
	}{
		"valid":                     {header: good, now: start},
		"valid within tolerance":    {header: good, now: start.Add(4 * time.Minute)},
		"clock of the sender ahead": {header: good, now: start.Add(-4 * time.Minute)},
		"another v1 and an unknown key": {
			header: "t=1767225600,v0=abc,v1=" + hex.EncodeToString(make([]byte, 32)) + "," + good[len("t=1767225600,"):], now: start,
		},
		"tampered body":    {header: good, body: []byte(`{"check":"smoke "}`), now: start, err: "no v1 signature matches"},
		"another secret":   {header: good, secret: []byte("another secret"), now: start, err: "no v1 signature matches"},
		"no secret":        {header: good, secret: []byte{}, now: start, err: "no secret"},
		"replayed":         {header: good, now: start.Add(6 * time.Minute), err: "more than 5m0s"},
		"tight tolerance":  {header: good, now: start.Add(2 * time.Second), tol: time.Second, err: "more than 1s"},
		"no timestamp":     {header: good[len("t=1767225600,"):], now: start, err: "no valid timestamp"},
		"two timestamps":   {header: "t=1," + good, now: start, err: "more than one timestamp"},
		"no signature":     {header: "t=1767225600", now: start, err: "no v1 signature"},
		"not hex":          {header: "t=1767225600,v1=zz", now: start, err: "no v1 signature matches"},
		"empty":            {header: "", now: start, err: "no valid timestamp"},
		"timestamp edited": {header: "t=1767225601" + good[len("t=1767225600"):], now: start, err: "no v1 signature matches"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, s := body, secret
			if tc.body != nil {
				b = tc.body
			}
			if tc.secret != nil {
				s = tc.secret
			}
			err := webhook.Verify(s, tc.header, b, tc.now, tc.tol)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, webhook.ErrSignature)
			assert.ErrorContains(t, err, tc.err)
			assert.NotContains(t, err.Error(), string(secret))
		})
	}
}

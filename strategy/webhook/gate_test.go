package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/webhook"
)

var secret = []byte("hmac-secret-value")

func TestGatePostsASignedPayload(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	gate := webhook.Gate("smoke", srv.URL+"/hooks/smoke",
		webhook.At(webhook.BeforePromotion), webhook.ForStrategy("bluegreen"), webhook.WithSecret(secret),
		webhook.WithHeader("Authorization", "Bearer t0k3n-value"), webhook.WithMetadata(map[string]string{"cluster": "eu-1"}))
	r := runCheck(t, gate)
	require.NoError(t, r.result(t))

	reqs := srv.requests()
	require.Len(t, reqs, 1)
	got := reqs[0]
	assert.Equal(t, "Bearer t0k3n-value", got.header.Get("Authorization"))
	assert.Equal(t, "application/json", got.header.Get("Content-Type"))
	require.NoError(t, webhook.Verify(secret, got.header.Get(webhook.SignatureHeader), got.body, start, time.Minute))
	tampered := bytes.Replace(got.body, []byte(`"v2"`), []byte(`"v3"`), 1)
	require.ErrorIs(t, webhook.Verify(secret, got.header.Get(webhook.SignatureHeader), tampered, start, time.Minute), webhook.ErrSignature)
	var p webhook.Payload
	require.NoError(t, json.Unmarshal(got.body, &p))
	assert.NotEmpty(t, p.ID)
	p.ID = ""
	assert.Equal(t, webhook.Payload{
		Kind: webhook.KindGate, Moment: webhook.BeforePromotion, Check: "smoke", Strategy: "bluegreen",
		App: "web", Namespace: "shop", Revision: "v2", StableRevision: "v1", Slot: "web-green", Service: "web-preview",
		Metadata: map[string]string{"cluster": "eu-1"}, Attempt: 1, Timestamp: start,
	}, p)
}

// The payload's field names are an API: receivers depend on them.
func TestPayloadFieldNamesAreStable(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(webhook.Payload{ID: "i", Kind: webhook.KindGate, Moment: webhook.BeforeStep, Check: "c",
		Strategy: "canary", App: "a", Namespace: "n", Revision: "r", StableRevision: "s", Slot: "sl", Service: "sv",
		Metadata: map[string]string{"k": "v"}, Attempt: 2, Timestamp: start})
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"i","kind":"Gate","moment":"BeforeStep","check":"c","strategy":"canary","app":"a",
		"namespace":"n","revision":"r","stableRevision":"s","slot":"sl","service":"sv","metadata":{"k":"v"},
		"attempt":2,"timestamp":"2026-01-01T00:00:00Z"}`, string(b))
}

func TestGateAnswers(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		answers  []answer
		requests int
		check    func(t *testing.T, err error)
	}{
		"500 then 200 is retried": {
			answers: []answer{{status: 500}, {status: 200}}, requests: 2,
			check: func(t *testing.T, err error) { assert.NoError(t, err) },
		},
		"429 and 503 then 204 are retried": {
			answers: []answer{{status: 429}, {status: 503}, {status: 204}}, requests: 3,
			check: func(t *testing.T, err error) { assert.NoError(t, err) },
		},
		"400 fails at once": {
			answers: []answer{{status: 400, body: "bad payload"}}, requests: 1,
			check: func(t *testing.T, err error) {
				var re *webhook.ResponseError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, 400, re.StatusCode)
				assert.Equal(t, "bad payload", re.Detail)
				assert.NotErrorIs(t, err, webhook.ErrRejected)
			},
		},
		"a rejection fails at once": {
			answers: []answer{{status: 200, body: `{"decision":"reject","reason":"error budget spent"}`}}, requests: 1,
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, webhook.ErrRejected)
				assert.Contains(t, err.Error(), "error budget spent")
			},
		},
		"a rejection with a 503 is not retried": {
			answers: []answer{{status: 503, body: `{"decision":"reject"}`}}, requests: 1,
			check: func(t *testing.T, err error) { require.ErrorIs(t, err, webhook.ErrRejected) },
		},
		"wait is inconclusive": {
			answers: []answer{{status: 202, body: `{"decision":"wait","reason":"tests still running"}`}}, requests: 1,
			check: func(t *testing.T, err error) {
				require.ErrorIs(t, err, strategy.ErrInconclusive)
				assert.Contains(t, err.Error(), "tests still running")
			},
		},
		"an unknown decision fails": {
			answers: []answer{{status: 200, body: `{"decision":"maybe"}`}}, requests: 1,
			check: func(t *testing.T, err error) { assert.ErrorContains(t, err, `unknown decision: POST`) },
		},
		"a body that is not an answer leaves the status to decide": {
			answers: []answer{{status: 200, body: `ok`}}, requests: 1,
			check: func(t *testing.T, err error) { assert.NoError(t, err) },
		},
		"a redirect is not followed": {
			answers: []answer{{status: 302}}, requests: 1,
			check: func(t *testing.T, err error) { assert.ErrorContains(t, err, "302 Found") },
		},
		"gives up after its attempts": {
			answers: []answer{{status: 502, body: "upstream down"}}, requests: 3,
			check: func(t *testing.T, err error) {
				assert.ErrorContains(t, err, "gave up after 3 attempts: POST")
				assert.ErrorContains(t, err, "502 Bad Gateway: upstream down")
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tc.answers...)
			r := runCheck(t, webhook.Gate("gate", srv.URL, webhook.WithAttempts(3)))
			for i := 1; i < tc.requests; i++ {
				e := r.event(t, strategy.EventRetrying)
				assert.Contains(t, e.Message, "gate: attempt")
				r.stepAfterTimer(t, webhook.DefaultMaxBackoff)
			}
			tc.check(t, r.result(t))
			assert.Equal(t, tc.requests, srv.count())
		})
	}
}

// A server that never answers: each attempt times out on the check's
// clock and is retried, until the gate gives up.
func TestGateTimesOutEachAttempt(t *testing.T) {
	t.Parallel()
	srv := newServer(t, answer{block: true})
	r := runCheck(t, webhook.Gate("slow", srv.URL, webhook.WithAttempts(2), webhook.WithAttemptTimeout(2*time.Second)))
	waitFor(t, "the first request", func() bool { return srv.count() == 1 })
	r.clk.Step(2 * time.Second)
	e := r.event(t, strategy.EventRetrying)
	assert.ErrorContains(t, e.Err, "no answer within 2s")
	r.stepAfterTimer(t, webhook.DefaultMaxBackoff)
	waitFor(t, "the second request", func() bool { return srv.count() == 2 })
	r.clk.Step(2 * time.Second)
	assert.ErrorContains(t, r.result(t), "gave up after 2 attempts: POST "+srv.URL+": no answer within 2s")
}

// WithTimeout bounds the whole gate, retries included.
func TestGateOverallTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t, answer{status: 500})
	r := runCheck(t, webhook.Gate("bounded", srv.URL, webhook.WithAttempts(100),
		webhook.WithTimeout(10*time.Second), webhook.WithBackoff(20*time.Second, 20*time.Second)))
	r.event(t, strategy.EventRetrying)
	r.clk.Step(10 * time.Second)
	err := r.result(t)
	assert.ErrorContains(t, err, "no answer within 10s: POST")
	assert.ErrorContains(t, err, "500 Internal Server Error")
	assert.NotErrorIs(t, err, context.Canceled)
}

// An Abort cancels the check's context: the gate returns at once, whether
// it waits to retry or waits for an answer.
func TestGateReturnsAtOnceOnAbort(t *testing.T) {
	t.Parallel()
	for name, a := range map[string]answer{"retry wait": {status: 503}, "request": {block: true}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, a)
			r := runCheck(t, webhook.Gate("aborted", srv.URL, webhook.WithAttemptTimeout(time.Hour)))
			if a.block {
				waitFor(t, "the request", func() bool { return srv.count() == 1 })
			} else {
				r.event(t, strategy.EventRetrying)
			}
			r.cancel()
			err := r.result(t)
			require.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, 1, srv.count())
		})
	}
}

func TestGateConnectionErrorsAreRetried(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	url := srv.URL
	srv.Close() // nothing listens there any more
	r := runCheck(t, webhook.Gate("down", url, webhook.WithAttempts(2)))
	e := r.event(t, strategy.EventRetrying)
	assert.ErrorContains(t, e.Err, "connect")
	r.stepAfterTimer(t, webhook.DefaultMaxBackoff)
	assert.ErrorContains(t, r.result(t), "gave up after 2 attempts")
}

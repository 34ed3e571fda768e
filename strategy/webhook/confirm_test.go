package webhook_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/webhook"
)

const interval = 10 * time.Second

// confirm is a Confirm whose attempt timeout is far longer than its
// interval, so that stepping the clock by the interval never times out a
// request in flight.
func confirm(url string, opts ...webhook.Option) strategy.Check {
	return webhook.Confirm("approval", url, append([]webhook.Option{webhook.At(webhook.BeforePromotion),
		webhook.WithInterval(interval), webhook.WithAttemptTimeout(time.Hour)}, opts...)...)
}

func TestConfirmWaitsForApproval(t *testing.T) {
	t.Parallel()
	srv := newServer(t,
		answer{status: 202, body: `{"decision":"wait","reason":"nobody looked yet"}`},
		answer{status: 404},
		answer{status: 503},
		answer{status: 500}, // the same kind of answer is reported once
		answer{status: 200, body: `{"decision":"approve"}`})
	r := runCheck(t, confirm(srv.URL))
	r.stepUntil(t, "five questions", interval, func() bool { return srv.count() == 5 })
	require.NoError(t, r.result(t))

	var ids []string
	for i, req := range srv.requests() {
		var p webhook.Payload
		require.NoError(t, json.Unmarshal(req.body, &p))
		assert.Equal(t, webhook.KindConfirm, p.Kind)
		assert.Equal(t, webhook.BeforePromotion, p.Moment)
		assert.Equal(t, i+1, p.Attempt)
		ids = append(ids, p.ID)
	}
	assert.Equal(t, []string{ids[0], ids[0], ids[0], ids[0], ids[0]}, ids, "one id for every question of a run")

	var waits []string
	for len(r.events) > 0 {
		if e := <-r.events; e.Type == strategy.EventWaiting {
			waits = append(waits, e.Message)
		}
	}
	require.Len(t, waits, 4)
	assert.Contains(t, waits[0], `approval: waiting for approval (POST `+srv.URL+`: 202 Accepted, decision "wait": nobody looked yet)`)
	assert.Contains(t, waits[1], "404 Not Found")
	assert.Contains(t, waits[2], "503 Service Unavailable")
	assert.Contains(t, waits[3], "500 Internal Server Error")
}

func TestConfirmRejects(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		answers []answer
		detail  string
	}{
		"403 after a wait":    {answers: []answer{{status: 404}, {status: 403, body: "denied by on-call"}}, detail: "403 Forbidden"},
		"409 after a wait":    {answers: []answer{{status: 503}, {status: 409}}, detail: "409 Conflict"},
		"a reject decision":   {answers: []answer{{status: 200, body: `{"decision":"reject","reason":"change freeze"}`}}, detail: "change freeze"},
		"a reject with a 4xx": {answers: []answer{{status: 422, body: `{"decision":"reject"}`}}, detail: "422"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tc.answers...)
			r := runCheck(t, confirm(srv.URL))
			r.stepUntil(t, "the rejection", interval, func() bool { return srv.count() == len(tc.answers) })
			err := r.result(t)
			require.ErrorIs(t, err, webhook.ErrRejected)
			assert.ErrorContains(t, err, tc.detail)
			assert.Equal(t, len(tc.answers), srv.count())
		})
	}
}

func TestConfirmTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t, answer{status: 404})
	r := runCheck(t, confirm(srv.URL, webhook.WithTimeout(time.Minute)))
	r.stepUntil(t, "the timeout", interval, func() bool { return len(r.done) > 0 })
	err := r.result(t)
	assert.ErrorContains(t, err, "not approved within 1m0s: POST "+srv.URL+": 404 Not Found")
	assert.NotErrorIs(t, err, webhook.ErrRejected)
	assert.NotErrorIs(t, err, context.Canceled)
}

func TestConfirmReturnsAtOnceOnAbort(t *testing.T) {
	t.Parallel()
	srv := newServer(t, answer{status: 404})
	r := runCheck(t, confirm(srv.URL))
	r.event(t, strategy.EventWaiting)
	r.cancel()
	require.ErrorIs(t, r.result(t), context.Canceled)
}

package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/webhook"
)

// fast makes retries quick on the real clock.
var fast = webhook.WithBackoff(time.Millisecond, 5*time.Millisecond)

func event(typ strategy.EventType, msg string) strategy.Event {
	return strategy.Event{Time: start, Type: typ, Strategy: "bluegreen", App: app, Revision: "v2",
		Phase: strategy.PhaseProgressing, Step: 1, StepName: "switch", StepKind: "switch", Message: msg}
}

// notifications decodes what a server received as Notifications.
func notifications(t *testing.T, srv *server) []webhook.Notification {
	t.Helper()
	var out []webhook.Notification
	for _, r := range srv.requests() {
		var n webhook.Notification
		require.NoError(t, json.Unmarshal(r.body, &n), string(r.body))
		out = append(out, n)
	}
	return out
}

func closeNotifier(t *testing.T, n *webhook.Notifier) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	require.NoError(t, n.Close(ctx))
}

// Not parallel: goleak sees every goroutine of the process.
func TestNotifierPostsInOrderAndLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := newServer(t)
	defer srv.Close()
	n := webhook.NewNotifier(srv.URL, webhook.WithSecret(secret), webhook.WithMetadata(map[string]string{"cluster": "eu-1"}))
	require.NoError(t, n.Validate())
	observe := n.Observer()
	for i := range 20 {
		observe(event(strategy.EventStepStarted, fmt.Sprintf("step %d", i)))
	}
	traffic := event(strategy.EventTraffic, "")
	traffic.Traffic = &strategy.Traffic{Weight: 100, StablePods: 3, Service: "web", Slot: "green"}
	observe(traffic)
	closeNotifier(t, n)

	got := notifications(t, srv)
	require.Len(t, got, 21)
	for i, m := range got[:20] {
		assert.Equal(t, uint64(i+1), m.Seq)
		assert.Equal(t, fmt.Sprintf("step %d", i), m.Message)
	}
	assert.Equal(t, webhook.Notification{Seq: 21, Time: start, Type: strategy.EventTraffic, Strategy: "bluegreen",
		App: "web", Namespace: "shop", Revision: "v2", Phase: strategy.PhaseProgressing, Step: 1, StepName: "switch",
		StepKind: "switch", Traffic: &webhook.Traffic{Weight: 100, StablePods: 3, Service: "web", Slot: "green"},
		Metadata: map[string]string{"cluster": "eu-1"}}, got[20])
	for _, r := range srv.requests() {
		assert.NoError(t, webhook.Verify(secret, r.header.Get(webhook.SignatureHeader), r.body, time.Now(), time.Minute))
	}
	assert.Equal(t, webhook.Stats{Sent: 21}, n.Stats())
}

// A server that never answers: the observer never blocks, the queue keeps
// the newest events, and Close gives up when its context ends and stops
// the goroutine.
func TestNotifierNeverBlocksTheObserver(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := newServer(t, answer{block: true})
	defer srv.Close()
	n := webhook.NewNotifier(srv.URL, webhook.WithQueueSize(10))
	observe := n.Observer()
	observe(event(strategy.EventRunStarted, "first"))
	waitFor(t, "the first request", func() bool { return srv.count() == 1 })
	for i := range 1000 {
		observe(event(strategy.EventStepStarted, fmt.Sprint(i)))
	}
	assert.Equal(t, webhook.Stats{Dropped: 990}, n.Stats())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := n.Close(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "10 queued notifications dropped")
	assert.Equal(t, webhook.Stats{Failed: 1, Dropped: 1000}, n.Stats())
	observe(event(strategy.EventRunFinished, "after Close"))
	assert.Equal(t, uint64(1001), n.Stats().Dropped)
	assert.NoError(t, n.Close(ctx), "a second Close")
}

// The count of events dropped while the queue was full reaches the
// receiver in the next notification.
func TestNotifierReportsDrops(t *testing.T) {
	t.Parallel()
	srv := newServer(t, answer{block: true, status: 500}, answer{status: 200})
	n := webhook.NewNotifier(srv.URL, webhook.WithQueueSize(2), webhook.WithAttempts(1))
	observe := n.Observer()
	observe(event(strategy.EventRunStarted, "1"))
	waitFor(t, "the first request", func() bool { return srv.count() == 1 })
	for i := 2; i <= 6; i++ {
		observe(event(strategy.EventStepStarted, fmt.Sprint(i)))
	}
	srv.release() // the first request fails, the rest go through
	closeNotifier(t, n)
	got := notifications(t, srv)
	require.Len(t, got, 3)
	assert.Equal(t, []uint64{1, 5, 6}, []uint64{got[0].Seq, got[1].Seq, got[2].Seq})
	assert.Equal(t, []uint64{0, 3, 0}, []uint64{got[0].Dropped, got[1].Dropped, got[2].Dropped})
	assert.Equal(t, webhook.Stats{Sent: 2, Failed: 1, Dropped: 3}, n.Stats())
}

func TestNotifierRetries(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		answers  []answer
		requests int
		stats    webhook.Stats
		errs     []string
	}{
		"500 then 200":   {answers: []answer{{status: 500}, {status: 200}}, requests: 2, stats: webhook.Stats{Sent: 1}, errs: []string{"attempt 1 of 3: POST"}},
		"429 thrice":     {answers: []answer{{status: 429}}, requests: 3, stats: webhook.Stats{Failed: 1}, errs: []string{"attempt 1 of 3", "attempt 2 of 3", "given up: after 3 attempts"}},
		"400 at once":    {answers: []answer{{status: 400, body: "no such channel"}}, requests: 1, stats: webhook.Stats{Failed: 1}, errs: []string{"given up: after 1 attempts: POST"}},
		"a 2xx is taken": {answers: []answer{{status: 202, body: `{"decision":"reject"}`}}, requests: 1, stats: webhook.Stats{Sent: 1}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tc.answers...)
			var mu sync.Mutex
			var errs []string
			n := webhook.NewNotifier(srv.URL, fast, webhook.WithErrorHandler(func(err error) {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
			}))
			n.Observer()(event(strategy.EventRunFinished, "done"))
			closeNotifier(t, n)
			assert.Equal(t, tc.requests, srv.count())
			assert.Equal(t, tc.stats, n.Stats())
			require.Len(t, errs, len(tc.errs))
			for i, want := range tc.errs {
				assert.Contains(t, errs[i], want)
			}
		})
	}
}

func TestNotifierOnly(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	n := webhook.NewNotifier(srv.URL, webhook.Only(strategy.EventRunStarted), webhook.Only(strategy.EventRunFinished))
	for _, typ := range []strategy.EventType{strategy.EventRunStarted, strategy.EventStepStarted, strategy.EventMeasurement, strategy.EventRunFinished} {
		n.Observer()(event(typ, ""))
	}
	closeNotifier(t, n)
	got := notifications(t, srv)
	require.Len(t, got, 2)
	assert.Equal(t, []strategy.EventType{strategy.EventRunStarted, strategy.EventRunFinished}, []strategy.EventType{got[0].Type, got[1].Type})
	assert.Equal(t, webhook.Stats{Sent: 2}, n.Stats(), "events filtered out are not dropped")
}

func TestNotifierSlack(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	n := webhook.NewNotifier(srv.URL, webhook.Slack())
	e := event(strategy.EventRunFinished, "rolled back <now> & then\nsome: see https://ci.example.com/run?token=s3cr3t-query")
	e.Phase = strategy.PhaseAborted
	e.Err = errors.New("check smoke failed: Authorization: Bearer t0k3n-value")
	n.Observer()(e)
	n.Observer()(strategy.Event{Type: strategy.EventTraffic, App: app, Traffic: &strategy.Traffic{Weight: 25}})
	closeNotifier(t, n)
	reqs := srv.requests()
	require.Len(t, reqs, 2)
	var m []map[string]any
	for _, r := range reqs {
		var msg map[string]any
		require.NoError(t, json.Unmarshal(r.body, &msg))
		m = append(m, msg)
	}
	assert.Equal(t, map[string]any{"text": "[bluegreen] shop/web v2: RunFinished, step 1 (switch), phase Aborted: " +
		"rolled back &lt;now&gt; &amp; then some: see https://ci.example.com/run?token=xxxxx: " +
		"check smoke failed: Authorization: Bearer xxxxx"}, m[0])
	assert.Equal(t, map[string]any{"text": "shop/web: Traffic, traffic 25%"}, m[1])
}

func TestNotifierMasksSecrets(t *testing.T) {
	t.Parallel()
	srv := newServer(t, answer{status: 500, body: "$request"}, answer{status: 400, body: "$request"})
	var mu sync.Mutex
	var errs []string
	n := webhook.NewNotifier(secretURL(srv.URL), fast, webhook.WithSecret(secret),
		webhook.WithHeader("Authorization", "Bearer t0k3n-value"), webhook.WithHeader("X-Api-Key", "k3y-value"),
		webhook.WithErrorHandler(func(err error) {
			mu.Lock()
			errs = append(errs, err.Error())
			mu.Unlock()
		}))
	e := event(strategy.EventCheck, "calling with k3y-value and "+string(secret))
	e.Err = errors.New("upstream said password=p4ssw0rd-url")
	e.Measurement = &strategy.Measurement{Metric: "m", Phase: "Error", Message: "GET http://x/?api_key=s3cr3t-query"}
	n.Observer()(e)
	closeNotifier(t, n)
	require.Len(t, errs, 2)
	for _, err := range errs {
		assertNoSecret(t, err)
	}
	for _, r := range srv.requests() {
		assertNoSecret(t, string(r.body))
	}
}

func TestNotifierValidate(t *testing.T) {
	t.Parallel()
	n := webhook.NewNotifier("ftp://deploy:p4ssw0rd-url@hooks.example.com", webhook.WithQueueSize(-1),
		webhook.WithAttemptTimeout(-1), webhook.WithHeader("Bad Name", "v"))
	err := n.Validate()
	var ve *strategy.ValidationError
	require.ErrorAs(t, err, &ve)
	for _, f := range []string{"notifier.url", "notifier.queueSize", "notifier.attemptTimeout", "notifier.headers"} {
		assert.True(t, ve.Has(f), "%s in %v", f, err)
	}
	assertNoSecret(t, err.Error())
	n.Observer()(event(strategy.EventRunStarted, ""))
	closeNotifier(t, n)
	assert.Equal(t, webhook.Stats{Failed: 1}, n.Stats(), "a bad notifier fails every notification, and never blocks")
}

// A Notifier signs with its clock's time, and sends with the client given.
func TestNotifierClockAndClient(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("X-Via", "platform-proxy")
		return http.DefaultTransport.RoundTrip(r)
	})}
	n := webhook.NewNotifier(srv.URL, webhook.WithClock(clocktesting.NewFakeClock(start)), webhook.WithSecret(secret),
		webhook.WithHTTPClient(client))
	n.Observer()(event(strategy.EventRunStarted, ""))
	closeNotifier(t, n)
	reqs := srv.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "platform-proxy", reqs[0].header.Get("X-Via"))
	assert.NoError(t, webhook.Verify(secret, reqs[0].header.Get(webhook.SignatureHeader), reqs[0].body, start, time.Second))
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/switchyard-dev/switchyard/strategy"
)

// patience bounds every wait of a test in real time, far beyond what any
// of them takes.
const patience = 20 * time.Second

var (
	start = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)
	app   = types.NamespacedName{Namespace: "shop", Name: "web"}
)

// request is what a test server received.
type request struct {
	header http.Header
	body   []byte
}

// answer is what a test server replies: a status and a body, in which
// $request stands for the request's URL and headers, as a careless server
// echoes them. block makes it hold the request until the client gives up
// or the test ends (or release is called), and then answer status if set.
type answer struct {
	status int
	body   string
	block  bool
}

// server is an httptest server that records requests and gives scripted
// answers: the i-th request gets answers[i], and the last answer repeats.
type server struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []request
	answers []answer
	stop    chan struct{} // closed by release or when the test ends: blocked handlers return
	once    sync.Once
}

// release lets the requests the server holds, and those to come, return.
func (s *server) release() { s.once.Do(func() { close(s.stop) }) }

func newServer(t *testing.T, answers ...answer) *server {
	t.Helper()
	s := &server{answers: answers, stop: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	t.Cleanup(s.release)
	return s
}

func (s *server) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, request{header: r.Header.Clone(), body: body})
	a := answer{status: http.StatusOK}
	if len(s.answers) > 0 {
		a = s.answers[min(n, len(s.answers)-1)]
	}
	s.mu.Unlock()
	if a.block {
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		if a.status == 0 {
			return
		}
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, strings.ReplaceAll(a.body, "$request", fmt.Sprintf("%s %v %s", r.URL, r.Header, body)))
}

func (s *server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func (s *server) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

// waitFor waits until cond holds, failing the test after patience.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, patience, time.Millisecond, "waiting for %s", what)
}

// checkRun is a check running in its own goroutine on a fake clock, as a
// strategy runs it.
type checkRun struct {
	clk    *clocktesting.FakeClock
	events chan strategy.Event
	done   chan error
	cancel context.CancelFunc
}

func runCheck(t *testing.T, c strategy.Check) *checkRun {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &checkRun{clk: clocktesting.NewFakeClock(start), events: make(chan strategy.Event, 100),
		done: make(chan error, 1), cancel: cancel}
	in := strategy.CheckInput{
		Release: strategy.Release{App: app, Revision: "v2", Workload: &appsv1.Deployment{}},
		Stable:  "v1", Slot: "web-green", Service: "web-preview",
		Clock: r.clk,
		Emit:  func(e strategy.Event) { r.events <- e },
	}
	go func() { r.done <- c.Func(ctx, in) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// result waits for the check's error.
func (r *checkRun) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(patience):
		t.Fatal("the check did not return")
		return nil
	}
}

// event waits for the check's next event of type typ, skipping others.
func (r *checkRun) event(t *testing.T, typ strategy.EventType) strategy.Event {
	t.Helper()
	deadline := time.After(patience)
	for {
		select {
		case e := <-r.events:
			if e.Type == typ {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event", typ)
		}
	}
}

// stepAfterTimer waits until the check waits on a timer, then moves the
// clock by d.
func (r *checkRun) stepAfterTimer(t *testing.T, d time.Duration) {
	t.Helper()
	waitFor(t, "a timer", r.clk.HasWaiters)
	r.clk.Step(d)
}

// stepUntil moves the clock by d whenever the check waits on a timer,
// until cond holds. Steps must be far shorter than the attempt timeout,
// which is pending while a request is in flight.
func (r *checkRun) stepUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	waitFor(t, what, func() bool {
		if cond() {
			return true
		}
		if r.clk.HasWaiters() {
			r.clk.Step(d)
		}
		return cond()
	})
}

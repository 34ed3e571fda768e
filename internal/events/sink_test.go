package events

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

var app = types.NamespacedName{Namespace: "shop", Name: "web"}

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func listEvents(t *testing.T, kube kubernetes.Interface) []corev1.Event {
	t.Helper()
	l, err := kube.CoreV1().Events(app.Namespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	return l.Items
}

func byMessage(evs []corev1.Event) map[string]corev1.Event {
	m := map[string]corev1.Event{}
	for _, ev := range evs {
		m[ev.Message] = ev
	}
	return m
}

// waitFor polls cond on real time until it holds; it fails the test after
// 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 2*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	require.NoError(t, err, "waiting for %s", what)
}

// within fails the test unless ch is closed within 10 seconds.
func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	tm := time.NewTimer(10 * time.Second)
	defer tm.Stop()
	select {
	case <-ch:
	case <-tm.C:
		t.Fatalf("timed out: %s", what)
	}
}

// hang makes cs's event creates block until release is closed; entered
// gets a value each time one starts.
func hang(cs *k8sfake.Clientset) (entered chan struct{}, release chan struct{}) {
	entered, release = make(chan struct{}, 1), make(chan struct{})
	cs.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return false, nil, nil // on to the clientset's tracker
	})
	return entered, release
}

// TestSpamFilterRunsOnTheClock checks that the correlator's rate limit
// per driver and record (a burst of 25, then one per 5 minutes) refills
// on the Sink's clock.
func TestSpamFilterRunsOnTheClock(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cs := k8sfake.NewClientset()
	clk := clocktesting.NewFakePassiveClock(start)
	s := New(cs, clk)
	for i := range 26 { // the 26th is over the burst: dropped
		s.Emit(app, "driver-a", false, fmt.Sprintf("Reason%d", i), "m")
	}
	// A Warning has a bucket of its own; once it is written, the writer,
	// which goes in order, has seen every Normal one before it.
	s.Emit(app, "driver-a", true, "Barrier", "m")
	waitFor(t, "the barrier written", func() bool { return byMessageReason(listEvents(t, cs))["Barrier"] })
	clk.SetTime(start.Add(5 * time.Minute))
	s.Emit(app, "driver-a", false, "Reason26", "m") // one token refilled
	s.Emit(app, "driver-a", false, "Reason27", "m") // dropped
	s.Close()
	reasons := byMessageReason(listEvents(t, cs))
	assert.Len(t, reasons, 27)
	assert.False(t, reasons["Reason25"])
	assert.True(t, reasons["Reason26"])
	assert.False(t, reasons["Reason27"])
}

func TestEmitDoesNotBlockWhileTheServerHangs(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cs := k8sfake.NewClientset()
	entered, release := hang(cs)
	s := New(cs, clocktesting.NewFakePassiveClock(start))

	s.Emit(app, "driver-a", false, "RunFinished", "v1: done")
	within(t, entered, "the first write to start")
	// The writer is stuck; three queues' worth of Emits return anyway,
	// the last ones dropped.
	emitted := make(chan struct{})
	go func() {
		defer close(emitted)
		for i := range 3 * queueLength {
			s.Emit(app, "driver-a", false, "RunFinished", fmt.Sprintf("v%d: done", i+2))
		}
	}()
	within(t, emitted, "Emit to return while the API server hangs")

	close(release)
	s.Close()
	assert.Contains(t, byMessage(listEvents(t, cs)), "v1: done")
}

func TestCloseFlushesWhatIsQueued(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cs := k8sfake.NewClientset()
	entered, release := hang(cs)
	s := New(cs, clocktesting.NewFakePassiveClock(start))
	for i := range 5 {
		s.Emit(app, "driver-a", false, fmt.Sprintf("Reason%d", i), "m")
	}
	within(t, entered, "the first write to start")

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		s.Close()
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a write was in flight")
	default:
	}
	close(release)
	within(t, closed, "Close")
	assert.Len(t, listEvents(t, cs), 5, "every queued Event written by the time Close returns")

	s.Emit(app, "driver-a", false, "Late", "m")
	s.Close()
	assert.Len(t, listEvents(t, cs), 5, "nothing written after Close")
}

// TestCloseIsBounded checks that Close gives up on a write that never
// returns: after the flush timeout it cancels, waits a little more and
// returns.
func TestCloseIsBounded(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cs := k8sfake.NewClientset()
	entered, release := hang(cs) // the fake clientset ignores contexts
	logs := &logRecorder{}
	s := New(cs, clocktesting.NewFakePassiveClock(start), WithFlushTimeout(20*time.Millisecond), WithLogger(logs.logger()))
	s.Emit(app, "driver-a", false, "First", "m")
	s.Emit(app, "driver-a", false, "Second", "m")
	within(t, entered, "the first write to start")

	began := time.Now()
	s.Close()
	took := time.Since(began)
	assert.GreaterOrEqual(t, took, 20*time.Millisecond+cancelGrace)
	assert.Less(t, took, 20*time.Millisecond+cancelGrace+5*time.Second)
	assert.True(t, logs.has("a write ignored its canceled context"), logs.String())

	close(release) // the writer returns; goleak waits for it
	within(t, s.done, "the writer to return")
	assert.False(t, byMessageReason(listEvents(t, cs))["Second"], "the queued Event is dropped after the timeout")
}

// TestCloseCancelsAWriteInFlight uses client-go's real clientset against
// a server that answers only when the request is canceled: Close cancels
// the write at the flush timeout and returns with no goroutine left.
func TestCloseCancelsAWriteInFlight(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	entered, stop := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body, or the server does not notice the client leave.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	kube, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, Transport: tr})
	require.NoError(t, err)

	logs := &logRecorder{}
	s := New(kube, clocktesting.NewFakePassiveClock(start), WithFlushTimeout(20*time.Millisecond), WithLogger(logs.logger()))
	s.Emit(app, "driver-a", false, "RunFinished", "v1: done")
	within(t, entered, "the write to reach the server")
	s.Close()
	select {
	case <-s.done:
	default:
		t.Fatal("Close returned before the writer")
	}
	assert.False(t, logs.has("a write ignored its canceled context"), logs.String())
	assert.True(t, logs.has("Event not written"), logs.String())
}

func TestEmitAfterCloseDoesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cs := k8sfake.NewClientset()
	s := New(cs, clocktesting.NewFakePassiveClock(start))
	s.Close()
	s.Emit(app, "driver-a", false, "RunFinished", "v1: done")
	s.Close()
	assert.Empty(t, listEvents(t, cs))

	var none *Sink
	none.Emit(app, "driver-a", false, "RunFinished", "v1: done")
	none.Close()
}

func TestEmitRacesClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cs := k8sfake.NewClientset()
	s := New(cs, clocktesting.NewFakePassiveClock(start))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				s.Emit(app, fmt.Sprintf("driver-%d", g), i%2 == 0, "RunFinished", fmt.Sprintf("v%d", i))
			}
		}()
	}
	s.Close()
	wg.Wait()
	s.Close()
}

func TestLongMessagesAreCut(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cs := k8sfake.NewClientset()
	s := New(cs, clocktesting.NewFakePassiveClock(start))
	s.Emit(app, "driver-a", true, "StepFailed", strings.Repeat("x", 3000))
	s.Close()
	evs := listEvents(t, cs)
	require.Len(t, evs, 1)
	assert.Len(t, evs[0].Message, MaxMessage)
	assert.True(t, strings.HasSuffix(evs[0].Message, "..."))

	assert.Equal(t, "short", truncate("short"))
	exact := strings.Repeat("x", MaxMessage)
	assert.Equal(t, exact, truncate(exact))
	runes := truncate(strings.Repeat("é", MaxMessage)) // 2 bytes each
	assert.True(t, utf8.ValidString(runes))
	assert.LessOrEqual(t, len(runes), MaxMessage)
	assert.True(t, strings.HasSuffix(runes, "é..."))
}

func byMessageReason(evs []corev1.Event) map[string]bool {
	m := map[string]bool{}
	for _, ev := range evs {
		m[ev.Reason] = true
	}
	return m
}

// logRecorder keeps the messages logged through its logger.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) logger() *slog.Logger { return slog.New(recordHandler{r}) }

func (r *logRecorder) has(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

func (r *logRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.msgs, "\n")
}

type recordHandler struct{ r *logRecorder }

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, rec slog.Record) error {
	h.r.mu.Lock()
	h.r.msgs = append(h.r.msgs, rec.Message)
	h.r.mu.Unlock()
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

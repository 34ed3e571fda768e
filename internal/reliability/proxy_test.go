package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/switchyard-dev/switchyard/internal/e2ekit"
)

// upstream is a stand-in API server for the proxy's unit tests: it answers
// every request with 200 and an empty JSON object, streams a line every
// few milliseconds to a watch, and remembers what reached it.
type upstream struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string // "METHOD path", in order
	// auth is the Authorization header of the last request.
	auth string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.got = append(u.got, r.Method+" "+r.URL.Path)
		u.auth = r.Header.Get("Authorization")
		u.mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("watch") != "true" {
			_, _ = w.Write([]byte("{}"))
			return
		}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := fmt.Fprintln(w, `{"type":"BOOKMARK"}`); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
	}))
	u.srv.EnableHTTP2 = true
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) config() *rest.Config {
	return &rest.Config{Host: u.srv.URL, BearerToken: "secret-token", TLSClientConfig: rest.TLSClientConfig{
		CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: u.srv.Certificate().Raw})}}
}

func (u *upstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.got...)
}

// client is an HTTP client of the proxy, built as client-go builds its own.
func client(t *testing.T, p *Proxy) *http.Client {
	c, err := rest.HTTPClientFor(p.Config())
	require.NoError(t, err)
	return c
}

func startProxy(t *testing.T, u *upstream, o Options) *Proxy {
	p, err := Start(u.config(), o)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

func do(t *testing.T, c *http.Client, ctx context.Context, method, url, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader("{}"))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return c.Do(req)
}

const cmPath = "/api/v1/namespaces/ns/configmaps/cm"

func TestProxyFaultKinds(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		kinds       []Kind
		method      string
		contentType string
		code        int // 0: the client sees a broken stream
		reason      metav1.StatusReason
		forwarded   bool
	}{
		"500":                        {kinds: []Kind{Internal}, method: http.MethodGet, code: 500, reason: metav1.StatusReasonInternalError},
		"429 with Retry-After":       {kinds: []Kind{Throttled}, method: http.MethodPost, code: 429, reason: metav1.StatusReasonTooManyRequests},
		"409 on an update":           {kinds: []Kind{Conflict}, method: http.MethodPut, code: 409, reason: metav1.StatusReasonConflict},
		"409 on a merge patch":       {kinds: []Kind{Conflict}, method: http.MethodPatch, contentType: "application/merge-patch+json", code: 409, reason: metav1.StatusReasonConflict},
		"no 409 on a create":         {kinds: []Kind{Conflict}, method: http.MethodPost, code: 200, forwarded: true},
		"no 409 on an apply":         {kinds: []Kind{Conflict}, method: http.MethodPatch, contentType: "application/apply-patch+yaml", code: 200, forwarded: true},
		"504 after the hold":         {kinds: []Kind{Timeout}, method: http.MethodDelete, code: 504, reason: metav1.StatusReasonTimeout},
		"a lost answer to a write":   {kinds: []Kind{Lost}, method: http.MethodPut, forwarded: true},
		"a lost answer to a read":    {kinds: []Kind{Lost}, method: http.MethodGet, forwarded: true},
		"a dry run is not a write":   {kinds: []Kind{Lost}, method: http.MethodPost, forwarded: true},
		"every kind, seeded, a read": {kinds: nil, method: http.MethodGet},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t)
			p := startProxy(t, u, Options{Rate: 1, Kinds: tc.kinds, Seed: 7, Hold: 50 * time.Millisecond})
			url := p.URL() + cmPath
			if name == "a dry run is not a write" {
				url += "?dryRun=All"
			}
			start := time.Now()
			resp, err := do(t, client(t, p), t.Context(), tc.method, url, tc.contentType)
			took := time.Since(start)
			if name == "every kind, seeded, a read" {
				// Whatever the seed drew, it was one of the kinds a read can get.
				st := p.Stats()
				assert.Equal(t, 1, st.Faulted(), "%+v", st)
				assert.Zero(t, st.Faults[Conflict], "no 409 for a read")
				if err == nil {
					resp.Body.Close()
				}
				return
			}
			if tc.code == 0 {
				require.Error(t, err, "the client sees a broken stream")
				assert.Equal(t, 1, p.Stats().Faults[Lost])
			} else {
				require.NoError(t, err)
				defer resp.Body.Close()
				assert.Equal(t, tc.code, resp.StatusCode)
			}
			if tc.reason != "" {
				var st metav1.Status
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
				assert.Equal(t, tc.reason, st.Reason)
				assert.Contains(t, st.Message, "injected")
				if tc.code == 429 {
					assert.Equal(t, "1", resp.Header.Get("Retry-After"))
				}
				if tc.code == 504 {
					assert.GreaterOrEqual(t, took, 50*time.Millisecond, "held for the hold")
				}
			}
			if tc.forwarded {
				assert.Equal(t, []string{tc.method + " " + cmPath}, u.requests())
				assert.Equal(t, "Bearer secret-token", u.auth, "the client's credentials reach the server")
			} else {
				assert.Empty(t, u.requests(), "the fault was answered without the server")
			}
			if name == "a lost answer to a write" {
				assert.Equal(t, 1, p.Stats().Writes, "the write happened")
			}
			if name == "a dry run is not a write" {
				assert.Zero(t, p.Stats().Writes)
			}
		})
	}
}

// outcomes sends the same 200 requests through a proxy seeded with seed
// and returns the status each got (0 for a broken stream).
func outcomes(t *testing.T, seed uint64) []int {
	u := newUpstream(t)
	p := startProxy(t, u, Options{Rate: 0.5, Seed: seed, Hold: time.Millisecond})
	c := client(t, p)
	var out []int
	for i := range 200 {
		method := []string{http.MethodGet, http.MethodPut, http.MethodPost}[i%3]
		resp, err := do(t, c, t.Context(), method, p.URL()+fmt.Sprintf("/api/v1/namespaces/ns-%d/configmaps/cm-%d", i, i%4), "")
		if err != nil {
			out = append(out, 0)
			continue
		}
		resp.Body.Close()
		out = append(out, resp.StatusCode)
	}
	st := p.Stats()
	assert.InDelta(t, 100, st.Faulted(), 25, "about half the requests faulted: %s", st)
	return out
}

func TestProxySeedReproducible(t *testing.T) {
	t.Parallel()
	a, b, c := outcomes(t, 1), outcomes(t, 1), outcomes(t, 2)
	assert.Equal(t, a, b, "the same seed, the same faults (namespaces differ: they are not part of the key)")
	assert.NotEqual(t, a, c, "another seed, other faults")
}

// openWatch opens a watch through the proxy and returns how many lines it
// read before the stream ended, and how it ended; it reads for at most d.
func openWatch(t *testing.T, p *Proxy, d time.Duration) (status, lines int, err error) {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	resp, err := do(t, client(t, p), ctx, http.MethodGet, p.URL()+"/api/v1/namespaces/ns/configmaps?watch=true", "")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, 0, nil
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines++
	}
	return resp.StatusCode, lines, sc.Err()
}

func TestProxyWatches(t *testing.T) {
	t.Parallel()
	t.Run("faults only when established", func(t *testing.T) {
		t.Parallel()
		p := startProxy(t, newUpstream(t), Options{Rate: 1, Kinds: []Kind{Internal}})
		status, _, err := openWatch(t, p, time.Second)
		require.NoError(t, err)
		assert.Equal(t, 500, status)
	})
	t.Run("never a lost answer or a conflict", func(t *testing.T) {
		t.Parallel()
		p := startProxy(t, newUpstream(t), Options{Rate: 1, Kinds: []Kind{Lost, Conflict}})
		status, lines, err := openWatch(t, p, 300*time.Millisecond)
		assert.Equal(t, 200, status)
		assert.Greater(t, lines, 5, "the stream flowed until the client ended it")
		assert.ErrorIs(t, err, context.DeadlineExceeded, "the client ended it, not the proxy")
		st := p.Stats()
		assert.Zero(t, st.Faulted())
		assert.Equal(t, 1, st.Watches)
	})
	t.Run("cut mid-stream", func(t *testing.T) {
		t.Parallel()
		p := startProxy(t, newUpstream(t), Options{WatchCut: 1, WatchCutAfter: 100 * time.Millisecond})
		status, _, err := openWatch(t, p, 5*time.Second)
		assert.Equal(t, 200, status)
		require.Error(t, err, "the stream broke")
		assert.NotErrorIs(t, err, context.DeadlineExceeded, "it broke before the client gave up")
		assert.Equal(t, 1, p.Stats().Faults[Cut])
	})
}

func TestProxyStopAfterWrites(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	p := startProxy(t, u, Options{})
	stopped := make(chan []e2ekit.Write, 1)
	p.StopAfterWrites(2, func(w []e2ekit.Write) { stopped <- w })
	c := client(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	resp, err := do(t, c, ctx, http.MethodPost, p.URL()+"/api/v1/namespaces/ns/configmaps", "")
	require.NoError(t, err, "the first write is answered")
	resp.Body.Close()
	resp, err = do(t, c, ctx, http.MethodPost, p.URL()+"/api/v1/namespaces/ns/events", "")
	require.NoError(t, err, "an Event is not counted")
	resp.Body.Close()

	second := make(chan error, 1)
	wctx, wcancel := context.WithCancel(ctx)
	go func() {
		resp, err := do(t, c, wctx, http.MethodPut, p.URL()+cmPath, "")
		if err == nil {
			resp.Body.Close()
		}
		second <- err
	}()
	var writes []e2ekit.Write
	select {
	case writes = <-stopped:
	case <-ctx.Done():
		t.Fatal("the proxy never stopped the client")
	}
	require.Len(t, writes, 2)
	assert.Equal(t, "update", writes[1].Verb)
	assert.Equal(t, "cm", writes[1].Name)

	// A later write is held before it reaches the server; a read passes.
	third := make(chan error, 1)
	go func() {
		resp, err := do(t, c, wctx, http.MethodDelete, p.URL()+cmPath, "")
		if err == nil {
			resp.Body.Close()
		}
		third <- err
	}()
	resp, err = do(t, c, ctx, http.MethodGet, p.URL()+cmPath, "")
	require.NoError(t, err, "reads pass")
	resp.Body.Close()
	wcancel() // the client gives up (or dies)
	assert.Error(t, <-second, "the answer of the last write never arrived")
	assert.Error(t, <-third)
	assert.Equal(t, []string{"POST /api/v1/namespaces/ns/configmaps", "POST /api/v1/namespaces/ns/events",
		"PUT " + cmPath, "GET " + cmPath}, u.requests())
	assert.Equal(t, 2, p.Stats().Writes)
}

func TestProxyNamesCreatedObjects(t *testing.T) {
	t.Parallel()
	p := startProxy(t, newUpstream(t), Options{})
	c := client(t, p)
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "from-protobuf"}}
	pb, err := runtime.Encode(protobuf.NewSerializer(scheme.Scheme, scheme.Scheme), cm)
	require.NoError(t, err)
	for _, body := range []string{`{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"from-json"}}`, string(pb)} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.URL()+"/api/v1/namespaces/ns/configmaps", strings.NewReader(body))
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	var names []string
	for _, w := range p.Writes() {
		names = append(names, w.Verb+" "+w.Name)
	}
	assert.Equal(t, []string{"create from-json", "create from-protobuf"}, names)
}

func TestProxyAfterWrites(t *testing.T) {
	t.Parallel()
	p := startProxy(t, newUpstream(t), Options{})
	c := client(t, p)
	after := p.AfterWrites(2)
	closed := func() bool {
		select {
		case <-after:
			return true
		default:
			return false
		}
	}
	for i, path := range []string{"/api/v1/namespaces/ns/events", "/api/v1/namespaces/ns/configmaps", cmPath} {
		method := map[bool]string{true: http.MethodPut, false: http.MethodPost}[path == cmPath]
		assert.False(t, closed(), "before write %d", i)
		resp, err := do(t, c, t.Context(), method, p.URL()+path, "")
		require.NoError(t, err)
		resp.Body.Close()
	}
	assert.True(t, closed(), "closed after the second write; the Event does not count")
}

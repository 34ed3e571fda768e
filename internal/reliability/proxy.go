package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/switchyard-dev/switchyard/internal/e2ekit"
)

// Options configure a Proxy. The zero value forwards everything.
type Options struct {
	// Rate is the share of requests, from 0 to 1, that get a fault.
	Rate float64
	// Seed seeds the draws: with the same seed, the n-th request of each
	// key (method, path without the namespace, selectors) has the same
	// fate in every run.
	Seed uint64
	// Kinds are the faults drawn from, each as likely, among those a
	// request can get (see Conflict and Lost). Nil means RequestKinds.
	Kinds []Kind
	// RetryAfter is the Retry-After of a 429, rounded to whole seconds;
	// zero means one second.
	RetryAfter time.Duration
	// Hold is how long a Timeout holds a request before answering 504,
	// unless the client gives up first; zero means one second.
	Hold time.Duration
	// WatchCut is the share of established watches cut mid-stream, after a
	// time drawn up to WatchCutAfter (zero: five seconds). Zero cuts none:
	// watches get faults only when they are established.
	WatchCut      float64
	WatchCutAfter time.Duration
	// Filter, when set, limits faults to the requests it accepts.
	Filter func(*http.Request) bool
	// Budget, when positive, is the most faults the proxy injects; later
	// requests pass.
	Budget int
}

func (o *Options) hold() time.Duration       { return orDefault(o.Hold, time.Second) }
func (o *Options) retryAfter() time.Duration { return orDefault(o.RetryAfter, time.Second) }
func (o *Options) watchCutAfter() time.Duration {
	return orDefault(o.WatchCutAfter, 5*time.Second)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Proxy is a fault-injecting reverse proxy on loopback in front of an API
// server. Clients built from Config talk to it over TLS (HTTP/2) with the
// upstream's credentials; it forwards to the upstream with the upstream's
// TLS configuration, and fails a share of the requests as Options say. It
// sees every request, so it also counts the writes that reached the server
// and can stop a client after its n-th one (StopAfterWrites).
type Proxy struct {
	opts     Options
	upstream *rest.Config
	srv      *httptest.Server
	rp       *httputil.ReverseProxy

	mu       sync.Mutex
	rate     float64
	seen     map[string]uint64
	injected int // faults drawn, against Options.Budget
	stats    Stats
	writes   []e2ekit.Write
	stopAt   int
	onStop   func([]e2ekit.Write)
	stopped  chan struct{}
	waiters  []waiter
	isClosed bool
}

// waiter is a channel closed once the proxy has counted n writes.
type waiter struct {
	n  int
	ch chan struct{}
}

// Stats count what the proxy did.
type Stats struct {
	Requests int          // requests received
	Faults   map[Kind]int // faults injected, by kind
	Writes   int          // writes the server answered with success (Events aside)
	Watches  int          // watches established
}

// Faulted is the number of requests that got a fault (cuts included).
func (s Stats) Faulted() int {
	n := 0
	for _, c := range s.Faults {
		n += c
	}
	return n
}

func (s Stats) String() string {
	var kinds []string
	for _, k := range append(slices.Clone(RequestKinds), Cut) {
		if n := s.Faults[k]; n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s:%d", k, n))
		}
	}
	return fmt.Sprintf("%d requests, %d faulted (%s), %d writes, %d watches", s.Requests, s.Faulted(),
		strings.Join(kinds, " "), s.Writes, s.Watches)
}

// discardLog swallows the servers' complaints about the streams the proxy
// breaks on purpose.
var discardLog = log.New(io.Discard, "", 0)

type ctxKey int

const fateKey ctxKey = 0

// reqState travels with a forwarded request to ModifyResponse.
type reqState struct {
	rq   request
	fate fate
	name string // of the object written
}

var (
	errLost = errors.New("reliability: answer dropped")
	errHeld = errors.New("reliability: client stopped after its last write")
)

// Start starts a proxy in front of the server of upstream.
func Start(upstream *rest.Config, opts Options) (*Proxy, error) {
	target, err := url.Parse(upstream.Host)
	if err != nil {
		return nil, fmt.Errorf("parsing upstream host: %w", err)
	}
	if target.Scheme == "" {
		target.Scheme = "https"
	}
	tlsCfg, err := rest.TLSConfigFor(upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream TLS configuration: %w", err)
	}
	transport := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 100,
		IdleConnTimeout: 90 * time.Second}
	p := &Proxy{opts: opts, upstream: rest.CopyConfig(upstream), rate: opts.Rate, seen: map[string]uint64{},
		stats: Stats{Faults: map[Kind]int{}}}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport:      transport,
		FlushInterval:  -1,
		ModifyResponse: p.modifyResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, errLost) || errors.Is(err, errHeld) || r.Context().Err() != nil {
				panic(http.ErrAbortHandler) // a broken stream, as a dropped connection gives
			}
			http.Error(w, "reliability proxy: "+err.Error(), http.StatusBadGateway)
		},
		ErrorLog: discardLog,
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.EnableHTTP2 = true
	p.srv.Config.ErrorLog = discardLog
	p.srv.StartTLS()
	return p, nil
}

// Config returns a client configuration for the proxy: the upstream's
// credentials, the proxy's address and certificate authority.
func (p *Proxy) Config() *rest.Config {
	cfg := rest.CopyConfig(p.upstream)
	cfg.Host = p.srv.URL
	cfg.TLSClientConfig = rest.TLSClientConfig{
		CertData: p.upstream.CertData, KeyData: p.upstream.KeyData, CertFile: p.upstream.CertFile, KeyFile: p.upstream.KeyFile,
		CAData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw}),
	}
	return cfg
}

// URL is the proxy's address.
func (p *Proxy) URL() string { return p.srv.URL }

// SetRate changes the share of requests that get a fault from now on.
func (p *Proxy) SetRate(rate float64) {
	p.mu.Lock()
	p.rate = rate
	p.mu.Unlock()
}

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Faults = map[Kind]int{}
	for k, n := range p.stats.Faults {
		s.Faults[k] = n
	}
	return s
}

// Writes returns the writes the server answered with success, Events
// aside, in the order their answers arrived.
func (p *Proxy) Writes() []e2ekit.Write {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.writes)
}

// StopAfterWrites makes the n-th successful write (Events aside) the last
// one a client gets through: its answer is held, onStop is called with the
// writes so far, and every later write, and the answer of any write still
// in flight, is held until its client gives up or dies. A client killed
// then stopped right after its n-th write.
func (p *Proxy) StopAfterWrites(n int, onStop func([]e2ekit.Write)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopAt, p.onStop, p.stopped = n, onStop, make(chan struct{})
}

// AfterWrites returns a channel that is closed once n more writes (Events
// aside) have succeeded, lost answers included.
func (p *Proxy) AfterWrites(n int) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := waiter{n: len(p.writes) + n, ch: make(chan struct{})}
	p.waiters = append(p.waiters, w)
	return w.ch
}

// Close drops the clients' connections and stops the proxy.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.isClosed {
		p.mu.Unlock()
		return
	}
	p.isClosed = true
	p.mu.Unlock()
	p.srv.CloseClientConnections()
	p.srv.Close()
}

func (p *Proxy) isStopped() bool {
	if p.stopped == nil {
		return false
	}
	select {
	case <-p.stopped:
		return true
	default:
		return false
	}
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	rq := classify(r)
	kinds := applicable(orKinds(p.opts.Kinds), rq, r.Method, r.Header.Get("Content-Type"))
	p.mu.Lock()
	p.stats.Requests++
	n := p.seen[rq.key]
	p.seen[rq.key]++
	o := p.opts
	o.Rate = p.rate
	if p.opts.Filter != nil && !p.opts.Filter(r) || p.opts.Budget > 0 && p.injected >= p.opts.Budget {
		kinds, o.Rate, o.WatchCut = nil, 0, 0
	}
	f := decide(&o, p.opts.Seed, rq.key, n, kinds, rq.watch)
	if f.kind != "" || f.cut > 0 {
		p.injected++
	}
	if f.kind != "" {
		p.stats.Faults[f.kind]++
	}
	held := rq.write && !rq.event && p.isStopped()
	p.mu.Unlock()

	if held {
		<-r.Context().Done() // a stopped client writes nothing more
		panic(http.ErrAbortHandler)
	}
	switch f.kind {
	case "":
	case Lost:
		// Forwarded below; ModifyResponse drops the answer.
	case Timeout:
		t := time.NewTimer(p.opts.hold())
		select {
		case <-t.C:
			writeStatus(w, statusOf(Timeout, rq, e2ekit.ObjectName(r), 0))
		case <-r.Context().Done():
			t.Stop()
		}
		return
	default:
		writeStatus(w, statusOf(f.kind, rq, e2ekit.ObjectName(r), p.opts.retryAfter()))
		return
	}
	st := &reqState{rq: rq, fate: f, name: e2ekit.ObjectName(r)}
	if st.name == "" && r.Method == http.MethodPost && r.Body != nil {
		st.name, r.Body = createdName(r.Body)
	}
	ctx := context.WithValue(r.Context(), fateKey, st)
	if f.cut > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		t := time.AfterFunc(f.cut, func() {
			p.mu.Lock()
			p.stats.Faults[Cut]++
			p.mu.Unlock()
			cancel()
		})
		defer t.Stop()
		defer cancel()
	}
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

// modifyResponse drops the answers of Lost requests, counts the writes
// that succeeded and holds answers once the client is stopped.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	st, _ := resp.Request.Context().Value(fateKey).(*reqState)
	if st == nil {
		return nil
	}
	if st.rq.watch && resp.StatusCode < 300 {
		p.mu.Lock()
		p.stats.Watches++
		p.mu.Unlock()
	}
	if st.fate.kind == Lost {
		// Let the server finish the request before the answer is dropped.
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if st.rq.write && !st.rq.event && resp.StatusCode < 300 {
			p.addWrite(resp, st)
		}
		return errLost
	}
	if !st.rq.write || st.rq.event || resp.StatusCode >= 300 {
		return nil
	}
	if last, held := p.addWrite(resp, st); held {
		if last != nil {
			last()
		}
		<-resp.Request.Context().Done()
		_ = resp.Body.Close()
		return errHeld
	}
	return nil
}

// addWrite logs a successful write; held is true when its answer must be
// held, and last, when set, is to be called first: this was the write to
// stop after.
func (p *Proxy) addWrite(resp *http.Response, st *reqState) (last func(), held bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Writes++
	p.writes = append(p.writes, e2ekit.Write{At: time.Now(), Verb: st.rq.verb, Resource: st.rq.resource,
		Name: st.name, Status: resp.StatusCode})
	p.waiters = slices.DeleteFunc(p.waiters, func(w waiter) bool {
		if len(p.writes) >= w.n {
			close(w.ch)
			return true
		}
		return false
	})
	if p.stopped == nil {
		return nil, false
	}
	if p.isStopped() {
		return nil, true
	}
	if len(p.writes) < p.stopAt {
		return nil, false
	}
	close(p.stopped)
	writes, onStop := slices.Clone(p.writes), p.onStop
	return func() {
		if onStop != nil {
			onStop(writes)
		}
	}, true
}

func orKinds(k []Kind) []Kind {
	if k == nil {
		return RequestKinds
	}
	return k
}

// createdName reads the name of the object a create sends, when its body
// is JSON, and returns a body to forward in place of the one it read.
func createdName(body io.ReadCloser) (string, io.ReadCloser) {
	raw, err := io.ReadAll(io.LimitReader(body, 1<<20))
	rest := struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(raw), body), body}
	if err != nil {
		return "", rest
	}
	// Built-in kinds in any encoding (client-go sends protobuf), else JSON.
	if o, _, err := scheme.Codecs.UniversalDeserializer().Decode(raw, nil, nil); err == nil {
		if m, err := meta.Accessor(o); err == nil {
			return m.GetName(), rest
		}
	}
	var obj struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &obj)
	return obj.Metadata.Name, rest
}

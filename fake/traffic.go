package fake

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/switchyard-dev/switchyard/fake/internal/traffic"
)

// Kinds of Entry: the objects requests can be sent to.
const (
	// EntryService sends requests to a Service: evenly over its ready
	// endpoints.
	EntryService = traffic.KindService
	// EntryHTTPRoute sends requests through a Gateway API HTTPRoute
	// (gateway.networking.k8s.io/v1).
	EntryHTTPRoute = traffic.KindHTTPRoute
	// EntryVirtualService sends requests through an Istio VirtualService
	// (networking.istio.io/v1, else v1beta1), with DestinationRule subsets.
	EntryVirtualService = traffic.KindVirtualService
	// EntryTrafficSplit sends requests through an SMI TrafficSplit
	// (split.smi-spec.io/v1alpha4, v1alpha3 or v1alpha2).
	EntryTrafficSplit = traffic.KindTrafficSplit
	// EntryIngress sends requests to the primary Ingress of an NGINX
	// Ingress canary pair (networking.k8s.io/v1).
	EntryIngress = traffic.KindIngress
)

// UnservedVersion is the version under which Metrics books the requests no
// version served (Share.Unserved): all of them failed, none has a latency.
const UnservedVersion = traffic.UnservedVersion

// ErrUnknownEntryKind is returned, wrapped, by Traffic for an Entry whose
// Kind is not one of the Entry constants.
var ErrUnknownEntryKind = traffic.ErrUnknownKind

// Entry names the object requests are sent to: a Service or a router
// object. Kind is one of EntryService, EntryHTTPRoute, EntryVirtualService,
// EntryTrafficSplit and EntryIngress.
type Entry struct {
	Kind, Namespace, Name string
}

// Request describes one class of requests. Only headers take part in
// routing: names are compared case-insensitively, values exactly. The zero
// Request is a request without headers.
type Request struct {
	Headers map[string]string
}

// Share is how the requests of one class are spread over versions, as
// expected fractions rather than random draws, so tests can compare them
// exactly.
//
// Serve maps a version (the value of the pods' version label, see
// WithVersionLabel; "" for pods without it) to the fraction of requests it
// serves; Serve plus Unserved sum to 1. Unserved is the fraction that reaches
// no ready endpoint and fails: no route matches, every weight is zero, or the
// chosen backend Service has no ready endpoint. Mirror maps a version to the
// copies per request it receives from mirroring (a fraction; two mirrors of
// one version may add up to more than 1). Serve and Mirror are never nil.
type Share struct {
	Serve    map[string]float64
	Mirror   map[string]float64
	Unserved float64
}

// trafficState is the cluster's traffic model, meter and load generators.
type trafficState struct {
	once   sync.Once
	model  *traffic.Model
	reader *k8sfake.Clientset // the model's typed reads; not the caller's

	meter   *traffic.Meter
	metrics *Metrics

	// gen is bumped by every store change that can change routing; a load
	// recomputes its share when gen moved.
	gen atomic.Uint64
	// routed counts the shares loads computed, for tests.
	routed atomic.Uint64

	mu    sync.Mutex // serialises recording; guards loads and their fields
	loads []*load    // in start order, so recording is deterministic
}

// load is one SendLoad generator.
type load struct {
	entry Entry
	req   Request
	rps   float64
	last  time.Time // recorded up to here

	gen   uint64 // trafficState.gen the share was computed at
	fresh bool   // share is set
	share Share
}

// routingResources are the resources whose changes can change a Share.
var routingResources = map[string]bool{
	"services": true, "endpointslices": true, "pods": true, "ingresses": true,
	"httproutes": true, "virtualservices": true, "destinationrules": true,
	"trafficsplits": true, "customresourcedefinitions": true,
}

// initTraffic wires the traffic model into a new cluster: a store listener
// that marks shares stale and a clock hook that records loads.
func (c *Cluster) initTraffic() {
	t := &c.traffic
	t.meter = traffic.NewMeter(1)
	t.metrics = &Metrics{c: c}
	c.store.listeners = append(c.store.listeners, func(ev event) {
		if routingResources[ev.key.gvr.Resource] {
			t.gen.Add(1)
		}
	})
	c.clock.onMove(func(_, to time.Time) { c.recordLoads(to) })
}

// trafficModel returns the model, reading the store through clients that
// are not counted in Requests, see no injected faults and do not hold
// auto-advance back.
func (c *Cluster) trafficModel() *traffic.Model {
	t := &c.traffic
	t.once.Do(func() {
		t.reader = k8sfake.NewClientset()
		t.reader.PrependReactor("*", "*", c.reactInternal)
		t.model = &traffic.Model{
			Kube:         t.reader,
			Dynamic:      dynamicClient{c: c, internal: true},
			VersionLabel: c.cfg.versionLabel,
		}
	})
	return t.model
}

// Traffic reports how the data plane would spread requests r sent to e
// right now, from the objects in the store: the Service's EndpointSlices
// and Pods, and the router object e names. Errors wrap the API error of a
// missing object (apierrors.IsNotFound works on them) or
// ErrUnknownEntryKind. Traffic's reads are not API requests: they are not
// counted by Requests and injected faults do not apply to them.
//
// Routing ignores paths, methods, query parameters, ports, ReferenceGrants
// and Istio fault injection.
func (c *Cluster) Traffic(ctx context.Context, e Entry, r Request) (Share, error) {
	m := c.trafficModel()
	res, err := m.Route(ctx, traffic.Entry{Kind: e.Kind, Namespace: e.Namespace, Name: e.Name}, traffic.Request{Headers: r.Headers})
	c.traffic.reader.ClearActions() // the reader's action log would grow forever
	if err != nil {
		return Share{}, err
	}
	return Share{Serve: res.Serve, Mirror: res.Mirror, Unserved: res.Unserved}, nil
}

// SendLoad starts a steady load of rps requests per second of class r sent
// to e, on fake time, and returns a function that stops it (idempotent).
//
// Each time the clock moves, by Step, SetTime or auto-advance, the load
// books the fake time that has just elapsed into Metrics, spread over
// versions by the Share the entry had before the move, and before the
// timers due at the new time fire: the share holds for the whole step, so
// with Step pods that turn Ready during the step serve from the next one.
// Each version's requests fail at its Behavior's ErrorRate and take its
// Latency; Unserved requests all fail (UnservedVersion), and mirrored copies
// count for the versions they reach, as server-side metrics would. While
// Traffic fails for e (a missing object), every request is Unserved.
//
// A load costs nothing while the clock stands still and is no API traffic:
// it neither counts in Requests nor holds auto-advance back. Its share is
// recomputed only after a Service, EndpointSlice, Pod or router object
// changed, and a long step costs at most one bucket per second of metrics
// retention, so an hour of fake time is cheap. A non-positive or NaN rps
// sends nothing.
func (c *Cluster) SendLoad(e Entry, rps float64, r Request) (stop func()) {
	if !(rps > 0) || math.IsInf(rps, 0) {
		return func() {}
	}
	t := &c.traffic
	l := &load{entry: e, req: Request{Headers: cloneHeaders(r.Headers)}, rps: rps}
	t.mu.Lock()
	l.last = c.clock.Now()
	t.loads = append(t.loads, l)
	t.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			// Book what a clock move still being recorded has not.
			c.recordLoadLocked(l, c.clock.Now())
			t.loads = slices.DeleteFunc(t.loads, func(x *load) bool { return x == l })
		})
	}
}

func cloneHeaders(h map[string]string) map[string]string {
	if h == nil {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = v
	}
	return out
}

// recordLoads books every load up to to; it is the clock's move hook.
func (c *Cluster) recordLoads(to time.Time) {
	t := &c.traffic
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range t.loads {
		c.recordLoadLocked(l, to)
	}
}

// recordLoadLocked books l's traffic in [l.last, to) with its current
// share. A clock moved back only moves l.last.
func (c *Cluster) recordLoadLocked(l *load, to time.Time) {
	t := &c.traffic
	if !to.After(l.last) {
		if to.Before(l.last) {
			l.last = to
		}
		return
	}
	if gen := t.gen.Load(); !l.fresh || l.gen != gen {
		t.routed.Add(1)
		share, err := c.Traffic(context.Background(), l.entry, l.req)
		if err != nil {
			share = Share{Serve: map[string]float64{}, Mirror: map[string]float64{}, Unserved: 1}
		}
		l.share, l.gen, l.fresh = share, gen, true
	}
	dt := to.Sub(l.last)
	t.meter.Record(to, dt, l.rps, l.share.Serve, c.meterBehavior)
	if len(l.share.Mirror) > 0 {
		t.meter.RecordCopies(to, dt, l.rps, l.share.Mirror, c.meterBehavior)
	}
	l.last = to
}

func (c *Cluster) meterBehavior(version string) traffic.Version {
	b := c.Behavior(version)
	return traffic.Version{ErrorRate: b.ErrorRate, Latency: b.Latency}
}

// Metrics returns the cluster's fake metrics source: what a metrics
// provider would report about the traffic of SendLoad.
func (c *Cluster) Metrics() *Metrics { return c.traffic.metrics }

// Metrics reports per-version request and error counts and latency samples
// of the load sent with SendLoad, like a metrics provider scraping the
// versions' pods. Windowed queries cover [now-window, now) on the cluster's
// clock; they look back at most an hour, with one-second buckets (windows
// of whole seconds are exact). Counts are expected values, not random draws:
// 100 rps for 60s at ErrorRate 0.2 is exactly 6000 requests and 1200 errors.
// Latencies are samples, at most 32 per version and second, log-normal
// around the version's Behavior.Latency (median) with a spread of 0.2;
// they are pseudo-random but reproducible: the same test run the same way
// gets the same samples. A Metrics is safe for concurrent use.
type Metrics struct{ c *Cluster }

func (m *Metrics) meter() *traffic.Meter { return m.c.traffic.meter }
func (m *Metrics) now() time.Time        { return m.c.clock.Now() }

// Versions returns the versions that have received load, sorted, including
// UnservedVersion once some request was unserved.
func (m *Metrics) Versions() []string { return m.meter().Versions() }

// Requests returns the requests version has received since the cluster
// started (0 if none).
func (m *Metrics) Requests(version string) float64 { return m.meter().Requests(version) }

// Errors returns the failed requests of version since the cluster started.
func (m *Metrics) Errors(version string) float64 { return m.meter().Errors(version) }

// ErrorRatio returns errors/requests of version in the last window. ok is
// false when the window holds no requests ("no data"); the ratio is never
// NaN.
func (m *Metrics) ErrorRatio(version string, window time.Duration) (ratio float64, ok bool) {
	return m.meter().ErrorRatio(version, m.now(), window)
}

// RequestRate returns the requests per second of version in the last
// window; 0 when it had none.
func (m *Metrics) RequestRate(version string, window time.Duration) float64 {
	return m.meter().RequestRate(version, m.now(), window)
}

// LatencySamples returns the latency samples of version taken in the last
// window, in time order; empty when there are none.
func (m *Metrics) LatencySamples(version string, window time.Duration) []time.Duration {
	secs := m.meter().LatencySamples(version, m.now(), window)
	out := make([]time.Duration, len(secs))
	for i, s := range secs {
		out[i] = seconds(s)
	}
	return out
}

// LatencyQuantile returns the q-quantile (0 <= q <= 1, interpolated
// linearly between samples) of the latency of version in the last window;
// ok is false when there are no samples or q is out of range.
func (m *Metrics) LatencyQuantile(version string, q float64, window time.Duration) (time.Duration, bool) {
	s, ok := m.meter().LatencyQuantile(version, q, m.now(), window)
	return seconds(s), ok
}

func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

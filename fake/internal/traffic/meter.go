package traffic

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// UnservedVersion is the version under which [Meter.Record] books requests
// that no version served (1 minus the sum of the shares): every one of them
// counts as an error, and none has a latency sample.
const UnservedVersion = "(unserved)"

// Version is how one version behaves: the fraction of its requests that fail
// and the median of its latency.
type Version struct {
	ErrorRate float64
	Latency   time.Duration
}

// Option configures a [Meter].
type Option interface{ apply(*meterConfig) }

type meterConfig struct {
	retention, resolution time.Duration
	maxSamples            int
	sigma                 float64
}

type optionFunc func(*meterConfig)

func (f optionFunc) apply(c *meterConfig) { f(c) }

// WithRetention sets how much fake time windowed queries can look back
// (default one hour). Cumulative counters are never trimmed.
func WithRetention(d time.Duration) Option {
	return optionFunc(func(c *meterConfig) { c.retention = d })
}

// WithResolution sets the width of a ring-buffer bucket (default 1s).
// Windows aligned to it are exact; others are pro-rated within a bucket.
func WithResolution(d time.Duration) Option {
	return optionFunc(func(c *meterConfig) { c.resolution = d })
}

// WithMaxSamples bounds the latency samples kept per version and bucket
// (default 32). Beyond it, samples are replaced by weighted reservoir
// sampling, so a bucket stays a fair sample of its requests.
func WithMaxSamples(n int) Option {
	return optionFunc(func(c *meterConfig) { c.maxSamples = n })
}

// WithLatencySigma sets the log-normal spread of latency samples around a
// version's Latency (default 0.2; 0 gives exact latencies).
func WithLatencySigma(s float64) Option {
	return optionFunc(func(c *meterConfig) { c.sigma = s })
}

// Meter is a fake metrics source: per version, request and error counters
// and latency samples of the traffic it is told about. Counters hold
// expected values (float64), so shares come out exact; latency samples are
// pseudo-random but reproducible: the same seed and the same sequence of
// calls give the same samples. A Meter is safe for concurrent use; its
// memory is bounded by retention/resolution buckets per version.
type Meter struct {
	mu      sync.Mutex
	cfg     meterConfig
	rng     *rand.Rand
	series  map[string]*series
	buckets int // ring size
}

type series struct {
	requests, errors float64 // cumulative
	pending          float64 // requests not yet represented by a sample
	ring             []bucket
}

type bucket struct {
	k                int64 // index: the bucket covers [k*res, (k+1)*res)
	used             bool
	requests, errors float64
	seen             float64 // requests the samples stand for
	samples          []sample
}

type sample struct {
	at  int64   // unix nanoseconds
	sec float64 // latency
}

// NewMeter returns an empty Meter whose latency noise is seeded by seed.
func NewMeter(seed int64, opts ...Option) *Meter {
	cfg := meterConfig{retention: time.Hour, resolution: time.Second, maxSamples: 32, sigma: 0.2}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.resolution <= 0 {
		cfg.resolution = time.Second
	}
	if cfg.retention < cfg.resolution {
		cfg.retention = cfg.resolution
	}
	cfg.maxSamples = max(cfg.maxSamples, 0)
	cfg.sigma = max(cfg.sigma, 0)
	return &Meter{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(uint64(seed), 0x5717c4a2d)),
		series:  map[string]*series{},
		buckets: int((cfg.retention + cfg.resolution - 1) / cfg.resolution),
	}
}

// Record books the traffic of the interval [at-dt, at): rps requests per
// second, spread over versions by serve (version -> fraction, as in
// [Result.Serve]); the remainder up to 1 goes to [UnservedVersion]. behavior
// gives each version's error rate and latency (nil: no errors, zero
// latency). Requests are spread evenly over the interval.
func (m *Meter) Record(at time.Time, dt time.Duration, rps float64, serve map[string]float64, behavior func(version string) Version) {
	m.record(at, dt, rps, serve, behavior, true)
}

// RecordCopies books mirrored copies of the traffic of [at-dt, at): rps
// requests per second of which version v receives copies[v] copies each (as
// in [Result.Mirror]). Unlike [Meter.Record] nothing is booked as unserved:
// a copy that reaches no endpoint is lost, not failed.
func (m *Meter) RecordCopies(at time.Time, dt time.Duration, rps float64, copies map[string]float64, behavior func(version string) Version) {
	m.record(at, dt, rps, copies, behavior, false)
}

func (m *Meter) record(at time.Time, dt time.Duration, rps float64, serve map[string]float64, behavior func(version string) Version, unserved bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	versions := make([]string, 0, len(serve)+1)
	rest := 1.0
	for v, s := range serve {
		if s > 0 {
			versions = append(versions, v)
			rest -= s
		}
		m.get(v) // a version with no traffic reads as zero, not "unknown"
	}
	sort.Strings(versions) // map order must not change the random draws
	if dt <= 0 || rps <= 0 || math.IsNaN(rps) {
		return
	}
	total := rps * dt.Seconds()
	for _, v := range versions {
		b := Version{}
		if behavior != nil {
			b = behavior(v)
		}
		m.add(v, at, dt, total*serve[v], min(max(b.ErrorRate, 0), 1), b.Latency, true)
	}
	if unserved && rest > 1e-12 {
		m.add(UnservedVersion, at, dt, total*rest, 1, 0, false)
	}
}

func (m *Meter) get(v string) *series {
	s, ok := m.series[v]
	if !ok {
		s = &series{ring: make([]bucket, m.buckets)}
		m.series[v] = s
	}
	return s
}

func (m *Meter) add(v string, at time.Time, dt time.Duration, n, errRate float64, lat time.Duration, sampled bool) {
	s := m.get(v)
	s.requests += n
	s.errors += n * errRate
	res := int64(m.cfg.resolution)
	end := at.UnixNano()
	start := end - int64(dt)
	from := max(start, end-int64(m.cfg.retention)) // older parts fall out of the ring at once
	for k := floorDiv(from, res); k*res < end; k++ {
		segS, segE := max(k*res, from), min((k+1)*res, end)
		if segE <= segS {
			continue
		}
		nb := n * float64(segE-segS) / float64(dt)
		b := s.slot(k)
		if b == nil {
			continue
		}
		b.requests += nb
		b.errors += nb * errRate
		if sampled {
			m.sample(s, b, nb, segS, segE, lat)
		}
	}
}

// slot returns bucket k, reset if its slot held an older bucket, or nil if
// it holds a newer one (k is past retention).
func (s *series) slot(k int64) *bucket {
	b := &s.ring[int(mod(k, int64(len(s.ring))))]
	switch {
	case b.used && b.k > k:
		return nil
	case !b.used || b.k < k:
		*b = bucket{k: k, used: true, samples: b.samples[:0]}
	}
	return b
}

// sample draws latency samples for nb requests of bucket b spread over
// [segS, segE), at most maxSamples, each standing for an equal part.
func (m *Meter) sample(s *series, b *bucket, nb float64, segS, segE int64, lat time.Duration) {
	want := s.pending + nb
	n := math.Floor(want)
	s.pending = want - n
	draws := int(min(n, float64(m.cfg.maxSamples)))
	if draws == 0 {
		return
	}
	w := n / float64(draws)
	median := max(lat, 0).Seconds()
	for j := range draws {
		x := sample{
			at:  segS + int64((float64(j)+0.5)/float64(draws)*float64(segE-segS)),
			sec: median * math.Exp(m.cfg.sigma*m.rng.NormFloat64()),
		}
		b.seen += w
		if len(b.samples) < m.cfg.maxSamples {
			b.samples = append(b.samples, x)
			continue
		}
		// Chao's weighted reservoir: keep x with probability N*w/seen.
		if p := float64(m.cfg.maxSamples) * w / b.seen; m.rng.Float64() < p {
			b.samples[m.rng.IntN(m.cfg.maxSamples)] = x
		}
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func mod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}

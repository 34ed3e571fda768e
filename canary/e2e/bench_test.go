package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/canary"
	"github.com/switchyard-dev/switchyard/strategy"
)

// requestCounter counts the API requests of the clients built from a
// rest.Config it wraps, by verb and by verb and resource.
type requestCounter struct {
	mu        sync.Mutex
	byVerb    map[string]int
	byVerbRes map[string]int
	total     int
}

func newRequestCounter() *requestCounter {
	return &requestCounter{byVerb: map[string]int{}, byVerbRes: map[string]int{}}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// wrap returns cfg with every request counted.
func (c *requestCounter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			verb, res := classify(r)
			c.mu.Lock()
			c.byVerb[verb]++
			c.byVerbRes[verb+" "+res]++
			c.total++
			c.mu.Unlock()
			return rt.RoundTrip(r)
		})
	})
	return cfg
}

// snapshot returns the counts so far and starts again from zero.
func (c *requestCounter) snapshot() (byVerb, byVerbRes map[string]int, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	byVerb, byVerbRes, total = c.byVerb, c.byVerbRes, c.total
	c.byVerb, c.byVerbRes, c.total = map[string]int{}, map[string]int{}, 0
	return byVerb, byVerbRes, total
}

// classify names a request's Kubernetes verb and resource from its method
// and path, as the API server's request info does for the common cases.
func classify(r *http.Request) (verb, resource string) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
	}
	if len(rest) == 0 {
		return "discovery", r.URL.Path
	}
	if rest[0] == "namespaces" && len(rest) >= 3 {
		rest = rest[2:]
	}
	resource = rest[0]
	if len(rest) >= 3 {
		resource += "/" + rest[2] // subresource
	}
	collection := len(rest) == 1
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		switch {
		case q.Get("watch") == "true" || q.Get("watch") == "1":
			verb = "watch"
		case collection:
			verb = "list"
		default:
			verb = "get"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/apply-patch") {
			verb = "apply"
		}
	case http.MethodDelete:
		verb = "delete"
		if collection {
			verb = "deletecollection"
		}
	default:
		verb = strings.ToLower(r.Method)
	}
	return verb, resource
}

// benchSteps is a 6-step canary with two pauses of benchPause.
const benchPause = time.Second

func benchSteps() []canary.Step {
	return []canary.Step{canary.SetWeight{Percent: 10}, canary.Pause{Duration: benchPause}, canary.SetWeight{Percent: 30},
		canary.Pause{Duration: benchPause}, canary.SetWeight{Percent: 60}, canary.SetWeight{Percent: 100}}
}

// BenchmarkStepOverhead runs, per iteration, three 6-step canaries (two
// pauses of 1s, no scale-down delay) on GatewayHTTPRoute and on
// ReplicaRatio, and reports the time per step spent outside pauses (Run's
// time minus the pauses, divided by the 6 steps) and the strategy's API
// requests per step by verb. Run's time includes deploying the canary slot,
// promotion and scaling the old slot down.
func BenchmarkStepOverhead(b *testing.B) {
	for _, name := range []string{"GatewayHTTPRoute", "ReplicaRatio"} {
		b.Run(name, func(b *testing.B) { benchStepOverhead(b, routingNamed(name)) })
	}
}

func benchStepOverhead(b *testing.B, r routing) {
	const canaries = 3
	e := newEnv(b, r)
	counter := newRequestCounter()
	clients, err := strategy.NewClients(counter.wrap(e.cfg))
	if err != nil {
		b.Fatal(err)
	}
	steps := benchSteps()
	spec := e.spec(clients, steps...)
	spec.ScaleDownDelay = ptr.To(time.Duration(0))
	var paused time.Duration
	for _, s := range steps {
		if p, ok := s.(canary.Pause); ok {
			paused += p.Duration
		}
	}
	var ev events
	s := canary.New(clients, spec, strategy.WithIdentity("e2e-bench"), ev.observer())
	// The first release goes straight to full size: not measured.
	if _, err := s.Run(e.ctx, e.release("r0")); err != nil {
		b.Fatal(err)
	}
	counter.snapshot()
	ev.reset()

	var took []time.Duration
	verbs, verbRes := map[string]int{}, map[string]int{}
	total, n := 0, 0
	b.ResetTimer()
	for b.Loop() {
		for range canaries {
			n++
			rev := fmt.Sprintf("r%d", n)
			start := time.Now()
			res, err := s.Run(e.ctx, e.release(rev))
			if err != nil {
				b.Fatalf("release %s: %v", rev, err)
			}
			took = append(took, time.Since(start))
			if res.Phase != strategy.PhaseSucceeded {
				b.Fatalf("release %s ended %s", rev, res.Phase)
			}
			bv, bvr, t := counter.snapshot()
			for k, v := range bv {
				verbs[k] += v
			}
			for k, v := range bvr {
				verbRes[k] += v
			}
			total += t
		}
	}
	b.StopTimer()

	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	runs := float64(len(took))
	perStep := float64(len(steps)) * runs
	overhead := (sum - time.Duration(len(took))*paused) / time.Duration(len(took)*len(steps))
	b.ReportMetric(ms(overhead), "overhead-ms/step")
	b.ReportMetric(float64(total)/perStep, "requests/step")
	names := make([]string, 0, len(verbs))
	for v := range verbs {
		names = append(names, v)
	}
	sort.Strings(names)
	for _, v := range names {
		b.ReportMetric(float64(verbs[v])/perStep, v+"/step")
	}

	var tbl strings.Builder
	fmt.Fprintf(&tbl, "\n%s: %d canaries of %d replicas, %d steps each with %s of pauses\n", r.name, len(took), replicas, len(steps), paused)
	fmt.Fprintf(&tbl, "Run took %s on average; outside pauses %.0fms per step (%.0fms per release)\n",
		(sum / time.Duration(len(took))).Round(time.Millisecond), ms(overhead), ms(overhead)*float64(len(steps)))
	fmt.Fprintf(&tbl, "\nmean time per step, from the observer's events\n")
	for _, st := range ev.stepTimes() {
		fmt.Fprintf(&tbl, "  %-14s %8.0fms  (x%d)\n", st.name, ms(st.mean), st.n)
	}
	fmt.Fprintf(&tbl, "\nAPI requests per step (%.1f in all; %.1f per release)\n%-40s %8s\n", float64(total)/perStep, float64(total)/runs, "verb resource", "per step")
	for _, v := range names {
		fmt.Fprintf(&tbl, "%-40s %8.2f\n", v, float64(verbs[v])/perStep)
		var keys []string
		for k := range verbRes {
			if strings.HasPrefix(k, v+" ") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&tbl, "  %-38s %8.2f\n", k, float64(verbRes[k])/perStep)
		}
	}
	b.Logf("%s", tbl.String())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (l *events) reset() {
	l.mu.Lock()
	l.all = nil
	l.mu.Unlock()
}

type stepTime struct {
	name string
	mean time.Duration
	n    int
}

// stepTimes returns the mean time of each step, from its StepStarted to its
// StepSucceeded event, in the order the steps first started.
func (l *events) stepTimes() []stepTime {
	l.mu.Lock()
	defer l.mu.Unlock()
	var order []string
	started := map[string]time.Time{}
	sums := map[string]time.Duration{}
	counts := map[string]int{}
	for _, ev := range l.all {
		switch ev.Type {
		case strategy.EventStepStarted:
			if _, ok := sums[ev.StepName]; !ok {
				order = append(order, ev.StepName)
				sums[ev.StepName] = 0
			}
			started[ev.StepName] = ev.Time
		case strategy.EventStepSucceeded:
			if s, ok := started[ev.StepName]; ok {
				sums[ev.StepName] += ev.Time.Sub(s)
				counts[ev.StepName]++
				delete(started, ev.StepName)
			}
		}
	}
	var out []stepTime
	for _, name := range order {
		if n := counts[name]; n > 0 {
			out = append(out, stepTime{name, sums[name] / time.Duration(n), n})
		}
	}
	return out
}

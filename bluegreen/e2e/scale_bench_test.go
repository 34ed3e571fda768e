package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/internal/controlplane"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

const (
	// scaleApps is how many apps BenchmarkScale50 releases at once.
	scaleApps = 50
	// scaleTimeout bounds the whole benchmark (go test -timeout is 20m);
	// scaleRoundTimeout bounds one round of 50 releases and its checks.
	scaleTimeout      = 18 * time.Minute
	scaleRoundTimeout = 6 * time.Minute
)

// BenchmarkScale50 measures the SCALE figure: one process releases 50
// blue/green apps at once, in one namespace, through one strategy.Clients
// built by strategy.NewClients with its default client-side rate limit
// (40 requests/s, bursts of 80; client-go does not rate-limit watches).
// Each app has its own active Service named after it and 3 replicas. After
// a warm-up release of every app (which creates a slot and is not
// measured), each iteration releases a new revision of all 50 apps, one
// goroutine each, and reports the wall time until every Run returned
// Succeeded (all-switched-s) and the API requests the strategies made until
// then (requests, requests/app), by verb and resource. The first iteration
// deploys each app's second slot afresh; later ones roll a slot that still
// runs the revision before last.
//
// The benchmark does not take the strategies' word for the switch: its own
// watch of the namespace's Services (and one EndpointSlice watcher per app,
// on a client of its own that is neither counted nor rate limited) must see
// every active Service select the other slot, served by that slot's pods
// only, and the pods of that slot must run the new revision. The same
// watches split each release into start→switch, switch→served and
// served→return (switch-seen-s is when the last selector moved), printed
// to stdout with the requests sent in each second, since the testing
// package keeps only the first 10 lines of a benchmark's log.
//
//	go test -run '^$' -bench Scale50 -benchtime=1x -timeout 20m ./bluegreen/e2e/
func BenchmarkScale50(b *testing.B) {
	cfg := controlplane.Config(b)
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
	b.Cleanup(cancel)

	// The benchmark's own client, for setup and the independent watches.
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ns := fmt.Sprintf("bluegreen-scale-%d", nsSeq.Add(1))
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })

	names := make([]string, scaleApps)
	for i := range names {
		names[i] = fmt.Sprintf("app-%02d", i)
		if _, err := kube.CoreV1().Services(ns).Create(ctx, scaleService(ns, names[i]), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	selectors := watchSelectors(b, ctx, kube, ns)
	eps := make([]*e2ekit.EndpointWatcher, scaleApps)
	for i, name := range names {
		eps[i] = e2ekit.WatchEndpoints(b, ctx, kube, ns, name, name)
	}

	// The strategies' one Clients, counted, at NewClients' default rate
	// limit: the control plane's admin config sets a high one of its own.
	counter := e2ekit.NewRequestCounter()
	pace := &requestPace{}
	clients, err := strategy.NewClients(e2ekit.DefaultLimit(pace.wrap(counter.Wrap(cfg))))
	if err != nil {
		b.Fatal(err)
	}
	// Every app's strategy gets the same options, the process's one
	// shared watch layer among them, as a deploy service would.
	watches := strategy.NewWatches(clients)
	defer watches.Close()
	opts := []strategy.Option{strategy.WithIdentity("scale-bench"), strategy.WithWatches(watches)}
	apps := make([]scaleApp, scaleApps)
	for i, name := range names {
		// One strategy per app: the Spec names the app's own Services.
		apps[i] = scaleApp{app: types.NamespacedName{Namespace: ns, Name: name},
			s: bluegreen.New(clients, scaleSpec(name), opts...), eps: eps[i]}
	}

	// Warm-up: the first release of each app creates its slot and puts the
	// slot into the Service's selector. Not measured.
	counter.Snapshot()
	warm := releaseAll(ctx, apps, "r0")
	if err := warm.err(); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	_, _, warmTotal := counter.Snapshot()
	if err := selectors.waitFor(ctx, "every active Service selects a slot", func(slot map[string]string) bool {
		for _, a := range apps {
			if slot[a.app.Name] == "" {
				return false
			}
		}
		return true
	}); err != nil {
		b.Fatal(err)
	}

	var (
		rounds, total  int
		wall, seen     time.Duration
		took           []time.Duration
		verbs, verbRes = map[string]int{}, map[string]int{}
		peakRate       int
		walls          []time.Duration // of each round
		paceLines      []string        // requests sent in each second of each round
		phaseLines     []string        // where each round's time went, by the benchmark's watches
		stale          []int           // of each round: scalePhases.stale
	)
	b.ResetTimer()
	for b.Loop() {
		rounds++
		rev := fmt.Sprintf("r%d", rounds)
		// Each app's release goes to the slot its Service does not select.
		want := map[string]string{}
		current := selectors.snapshot()
		for _, a := range apps {
			want[a.app.Name] = otherSlot(current[a.app.Name])
		}

		counter.Snapshot()
		pace.reset()
		round := releaseAll(ctx, apps, rev)
		bv, bvr, n := counter.Snapshot()
		rate, line := pace.peak(), pace.line()
		if err := round.err(); err != nil {
			b.Fatalf("release %s: %v", rev, err)
		}
		b.StopTimer()
		wall += round.wall
		took = append(took, round.took...)
		total += n
		for k, v := range bv {
			verbs[k] += v
		}
		for k, v := range bvr {
			verbRes[k] += v
		}
		peakRate = max(peakRate, rate)
		walls, paceLines = append(walls, round.wall), append(paceLines, line)

		// The independent evidence: every active Service selects the new
		// slot, its endpoints are that slot's pods only, and those pods run
		// rev.
		vctx, vcancel := context.WithTimeout(ctx, scaleRoundTimeout)
		err := selectors.waitFor(vctx, "every active Service selects its new slot", func(slot map[string]string) bool {
			for name, s := range want {
				if slot[name] != s {
					return false
				}
			}
			return true
		})
		if err != nil {
			vcancel()
			b.Fatalf("release %s: %v", rev, err)
		}
		last := selectors.lastMove(names)
		seen += last.Sub(round.start)
		var ph scalePhases
		for _, a := range apps {
			slot := want[a.app.Name]
			served, err := a.eps.FullyServed(vctx, a.app.Name+": only slot "+slot, func(s e2ekit.Sample) bool {
				return s.Ready == replicas && s.BySlot[slot] == replicas
			})
			if err != nil {
				vcancel()
				b.Fatalf("release %s: %v", rev, err)
			}
			moved, servedAt := selectors.movedAt(a.app.Name), served.Samples()[0].At
			ph.toSwitch = append(ph.toSwitch, moved.Sub(round.start))
			ph.toServed = append(ph.toServed, servedAt.Sub(moved))
			ph.toReturn = append(ph.toReturn, round.ended[a.app.Name].Sub(servedAt))
			// The slot's Deployment runs replicas pods of rev: more ready
			// endpoints in the slot after the switch are pods of the
			// revision it ran before, still Ready while it rolls.
			most := 0
			for _, smp := range a.eps.Since(0) {
				if !smp.At.Before(moved) {
					most = max(most, smp.BySlot[slot])
				}
			}
			if most > replicas {
				ph.stale++
				ph.mostStale = max(ph.mostStale, most)
			}
		}
		phaseLines, stale = append(phaseLines, ph.String()), append(stale, ph.stale)
		err = checkRevision(vctx, kube, ns, want, rev)
		vcancel()
		if err != nil {
			b.Fatalf("release %s: %v", rev, err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	if err := selectors.gap(); err != nil {
		b.Logf("note: the Service watch had a gap (it relisted): %v", err)
	}
	for _, a := range apps {
		if err := a.eps.Err(); err != nil {
			b.Logf("note: %s: the endpoint watch had a gap: %v", a.app.Name, err)
		}
	}

	perRound := float64(rounds)
	runs := float64(rounds * scaleApps)
	b.ReportMetric(wall.Seconds()/perRound, "all-switched-s")
	b.ReportMetric(seen.Seconds()/perRound, "switch-seen-s")
	b.ReportMetric(float64(total)/perRound, "requests")
	b.ReportMetric(float64(total)/runs, "requests/app")

	sorted := slices.Clone(took)
	slices.Sort(sorted)
	vnames := make([]string, 0, len(verbs))
	for v := range verbs {
		vnames = append(vnames, v)
	}
	sort.Strings(vnames)
	resOf := func(v string) []string {
		var keys []string
		for k := range verbRes {
			if strings.HasPrefix(k, v+" ") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		return keys
	}

	// The full report goes to stdout: the testing package keeps only the
	// first 10 lines of a benchmark's log.
	var tbl strings.Builder
	fmt.Fprintf(&tbl, "\nBenchmarkScale50: %d round(s) of %d concurrent blue/green releases (%d replicas each) in %s, one Clients at QPS %d burst %d\n",
		rounds, scaleApps, replicas, ns, strategy.DefaultQPS, strategy.DefaultBurst)
	fmt.Fprintf(&tbl, "warm-up (first releases, not measured): %s, %d requests (%.1f per app)\n",
		warm.wall.Round(time.Millisecond), warmTotal, float64(warmTotal)/scaleApps)
	fmt.Fprintf(&tbl, "all Runs Succeeded after %s (per round); last selector move seen by the watch at %s\n",
		(wall / time.Duration(rounds)).Round(time.Millisecond), (seen / time.Duration(rounds)).Round(time.Millisecond))
	fmt.Fprintf(&tbl, "one Run took min %s, p50 %s, p95 %s, max %s\n", sorted[0].Round(time.Millisecond),
		percentile(sorted, 50).Round(time.Millisecond), percentile(sorted, 95).Round(time.Millisecond),
		sorted[len(sorted)-1].Round(time.Millisecond))
	fmt.Fprintf(&tbl, "requests: %.0f per round, %.1f per app, %.1f/s on average, %d in the busiest second\n",
		float64(total)/perRound, float64(total)/runs, float64(total)/wall.Seconds(), peakRate)
	for i, line := range paceLines {
		fmt.Fprintf(&tbl, "round %d (%s): requests sent in each second: %s\n", i+1, walls[i].Round(time.Millisecond), line)
		fmt.Fprintf(&tbl, "  as the benchmark's watches saw it: %s\n", phaseLines[i])
	}
	fmt.Fprintf(&tbl, "\n%-40s %8s %8s\n", "verb resource", "round", "per app")
	for _, v := range vnames {
		fmt.Fprintf(&tbl, "%-40s %8.0f %8.2f\n", v, float64(verbs[v])/perRound, float64(verbs[v])/runs)
		for _, k := range resOf(v) {
			fmt.Fprintf(&tbl, "  %-38s %8.0f %8.2f\n", k, float64(verbRes[k])/perRound, float64(verbRes[k])/runs)
		}
	}
	fmt.Fprint(os.Stdout, tbl.String())

	// The short form, one line per verb, fits the benchmark's log.
	var short strings.Builder
	fmt.Fprintf(&short, "%d apps: all Succeeded in %s, %.0f requests (%.1f/app, %.1f/s, peak %d/s); per app by verb:",
		scaleApps, (wall / time.Duration(rounds)).Round(time.Millisecond), float64(total)/perRound, float64(total)/runs,
		float64(total)/wall.Seconds(), peakRate)
	for _, v := range vnames {
		var parts []string
		for _, k := range resOf(v) {
			parts = append(parts, fmt.Sprintf("%s %.2f", strings.TrimPrefix(k, v+" "), float64(verbRes[k])/runs))
		}
		fmt.Fprintf(&short, "\n%-8s %6.2f  %s", v, float64(verbs[v])/runs, strings.Join(parts, ", "))
	}
	fmt.Fprintf(&short, "\nwatched: all %d active Services moved to the new slot; apps whose new slot still had Ready pods of its older revision in the endpoints after the switch, by round: %v",
		scaleApps, stale)
	b.Logf("%s", short.String())
}

// scaleApp is one of the benchmark's apps and its strategy.
type scaleApp struct {
	app types.NamespacedName
	s   *bluegreen.Strategy
	eps *e2ekit.EndpointWatcher // its active Service's endpoints
}

func scaleService(ns, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
}

// scaleSpec is baseSpec for app name.
func scaleSpec(name string) bluegreen.Spec {
	s := baseSpec()
	s.ActiveService, s.PreviewService = name, name+"-preview"
	return s
}

// scaleWorkload is workload for app name.
func scaleWorkload(name, rev string) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](replicas),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "web", Image: "web:" + rev,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
				Tolerations: []corev1.Toleration{kwokToleration},
			},
		},
	}}
}

func otherSlot(slot string) string {
	if slot == bluegreen.Blue {
		return bluegreen.Green
	}
	return bluegreen.Blue
}

// scalePhases splits each app's release, as the benchmark's own watches
// saw it: from the round's start to the active Service's selector move,
// from there to its endpoints being the new slot's pods only, and from
// there to Run returning.
type scalePhases struct {
	toSwitch, toServed, toReturn []time.Duration
	// stale counts the apps whose active Service had more ready endpoints
	// in the new slot after the switch than the slot's replicas;
	// mostStale is the most it had.
	stale, mostStale int
}

func (p scalePhases) String() string {
	f := func(ds []time.Duration) string {
		s := slices.Clone(ds)
		slices.Sort(s)
		return fmt.Sprintf("p50 %s max %s", percentile(s, 50).Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
	}
	return fmt.Sprintf("start→switch %s; switch→served %s; served→Run returned %s; %d apps had more than %d ready endpoints in the new slot after the switch (at most %d)",
		f(p.toSwitch), f(p.toServed), f(p.toReturn), p.stale, replicas, p.mostStale)
}

// scaleRound is how one round of concurrent releases went.
type scaleRound struct {
	start time.Time
	wall  time.Duration        // until the last Run returned
	took  []time.Duration      // each Run that succeeded
	ended map[string]time.Time // when each app's Run returned
	errs  []error
}

func (r scaleRound) err() error {
	const show = 5
	if len(r.errs) > show {
		return fmt.Errorf("%d of %d releases failed, the first %d: %w", len(r.errs), scaleApps, show, errors.Join(r.errs[:show]...))
	}
	return errors.Join(r.errs...)
}

// releaseAll releases rev of every app at once, one goroutine each, and
// returns when every Run has returned.
func releaseAll(ctx context.Context, apps []scaleApp, rev string) scaleRound {
	ctx, cancel := context.WithTimeout(ctx, scaleRoundTimeout)
	defer cancel()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		round = scaleRound{start: time.Now(), ended: map[string]time.Time{}}
	)
	for _, a := range apps {
		wg.Go(func() {
			began := time.Now()
			res, err := a.s.Run(ctx, strategy.Release{App: a.app, Revision: rev, Workload: scaleWorkload(a.app.Name, rev)})
			end := time.Now()
			d := end.Sub(began)
			if err == nil && res.Phase != strategy.PhaseSucceeded {
				err = fmt.Errorf("ended %s: %s", res.Phase, res.Message)
			}
			mu.Lock()
			defer mu.Unlock()
			round.ended[a.app.Name] = end
			if err != nil {
				round.errs = append(round.errs, fmt.Errorf("%s: %w", a.app.Name, err))
				return
			}
			round.took = append(round.took, d)
		})
	}
	wg.Wait()
	round.wall = time.Since(round.start)
	return round
}

// checkRevision requires that each app's slot in want has replicas Ready
// pods of rev, from one list of the namespace's pods.
func checkRevision(ctx context.Context, kube kubernetes.Interface, ns string, want map[string]string, rev string) error {
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: strategy.LabelRevision + "=" + rev})
	if err != nil {
		return err
	}
	ready := map[string]int{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp == nil && podReady(p) && p.Labels[strategy.LabelSlot] == want[p.Labels[strategy.LabelApp]] {
			ready[p.Labels[strategy.LabelApp]]++
		}
	}
	var errs []error
	for name, slot := range want {
		if ready[name] < replicas {
			errs = append(errs, fmt.Errorf("%s: slot %s has %d Ready pods of %s, want %d", name, slot, ready[name], rev, replicas))
		}
	}
	return errors.Join(errs...)
}

// selectorWatch follows a namespace's Services on a list and watch of its
// own and keeps, for each Service, the slot its selector names and when
// that last changed, noted as each event arrives.
type selectorWatch struct {
	kube kubernetes.Interface
	ns   string

	mu      sync.Mutex
	slot    map[string]string
	moved   map[string]time.Time
	changed chan struct{}
	err     error // the first gap: a watch error or a relist
}

func watchSelectors(tb testing.TB, ctx context.Context, kube kubernetes.Interface, ns string) *selectorWatch {
	tb.Helper()
	w := &selectorWatch{kube: kube, ns: ns, slot: map[string]string{}, moved: map[string]time.Time{}, changed: make(chan struct{})}
	rv, err := w.list(ctx)
	if err != nil {
		tb.Fatalf("listing the Services of %s: %v", ns, err)
	}
	go w.run(ctx, rv)
	return w
}

// list replaces what the watch knows with a fresh list and returns its
// version.
func (w *selectorWatch) list(ctx context.Context) (string, error) {
	l, err := w.kube.CoreV1().Services(w.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	seen := map[string]bool{}
	for i := range l.Items {
		seen[l.Items[i].Name] = true
		w.setLocked(&l.Items[i], now)
	}
	for name := range w.slot {
		if !seen[name] {
			delete(w.slot, name)
		}
	}
	w.notifyLocked()
	return l.ResourceVersion, nil
}

func (w *selectorWatch) run(ctx context.Context, rv string) {
	const maxFailures = 5 // in a row, before the watch gives up
	failures := 0
	for ctx.Err() == nil {
		wi, err := w.kube.CoreV1().Services(w.ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err == nil {
			var ok bool
			rv, ok = w.follow(ctx, wi, rv)
			wi.Stop()
			if ok {
				failures = 0
				continue // the server closed the watch: resume from rv
			}
			err = errors.New("the watch expired")
		}
		if ctx.Err() != nil {
			return
		}
		w.fail(fmt.Errorf("watching Services: %w", err))
		if failures++; failures > maxFailures {
			return
		}
		if rv, err = w.list(ctx); err != nil {
			w.fail(err)
			return
		}
	}
}

// follow applies the events of one watch and returns the version to resume
// from, and false when a relist is needed.
func (w *selectorWatch) follow(ctx context.Context, wi watch.Interface, rv string) (string, bool) {
	for {
		select {
		case <-ctx.Done():
			return rv, true
		case ev, open := <-wi.ResultChan():
			if !open {
				return rv, true
			}
			switch ev.Type {
			case watch.Error:
				w.fail(apierrors.FromObject(ev.Object))
				return rv, false
			case watch.Bookmark:
				if s, ok := ev.Object.(*corev1.Service); ok {
					rv = s.ResourceVersion
				}
				continue
			}
			s, ok := ev.Object.(*corev1.Service)
			if !ok {
				continue
			}
			rv = s.ResourceVersion
			w.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(w.slot, s.Name)
			} else {
				w.setLocked(s, time.Now())
			}
			w.notifyLocked()
			w.mu.Unlock()
		}
	}
}

func (w *selectorWatch) setLocked(s *corev1.Service, at time.Time) {
	slot := s.Spec.Selector[strategy.LabelSlot]
	if prev, ok := w.slot[s.Name]; !ok || prev != slot {
		w.moved[s.Name] = at
	}
	w.slot[s.Name] = slot
}

func (w *selectorWatch) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *selectorWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

func (w *selectorWatch) gap() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// snapshot returns the slot each Service selects.
func (w *selectorWatch) snapshot() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.slot))
	for k, v := range w.slot {
		out[k] = v
	}
	return out
}

// movedAt returns when the Service's selector last moved.
func (w *selectorWatch) movedAt(name string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.moved[name]
}

// lastMove returns the latest time one of the Services' selectors moved.
func (w *selectorWatch) lastMove(names []string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	var last time.Time
	for _, n := range names {
		if t := w.moved[n]; t.After(last) {
			last = t
		}
	}
	return last
}

// waitFor waits, on the watch, until cond holds of the slots the Services
// select, or ctx ends.
func (w *selectorWatch) waitFor(ctx context.Context, what string, cond func(slot map[string]string) bool) error {
	for {
		w.mu.Lock()
		ok, changed, gap := cond(w.slot), w.changed, w.err
		w.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (watch gap: %v)", what, ctx.Err(), gap)
		}
	}
}

// requestPace notes when the wrapped client's requests leave, so that the
// benchmark can tell whether the client-side rate limit paced them.
type requestPace struct {
	mu    sync.Mutex
	start time.Time
	bySec map[int]int
}

func (p *requestPace) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return paceRoundTripper{p: p, rt: rt}
	})
	p.reset()
	return cfg
}

type paceRoundTripper struct {
	p  *requestPace
	rt http.RoundTripper
}

func (t paceRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	t.p.mu.Lock()
	t.p.bySec[int(time.Since(t.p.start)/time.Second)]++
	t.p.mu.Unlock()
	return t.rt.RoundTrip(r)
}

func (p *requestPace) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start, p.bySec = time.Now(), map[int]int{}
}

// line lists the requests in each second since reset.
func (p *requestPace) line() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := -1
	for s := range p.bySec {
		last = max(last, s)
	}
	out := make([]string, last+1)
	for s := range out {
		out[s] = fmt.Sprint(p.bySec[s])
	}
	return strings.Join(out, " ")
}

// peak is the most requests that left in one second since reset.
func (p *requestPace) peak() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.bySec {
		n = max(n, c)
	}
	return n
}

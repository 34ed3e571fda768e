package fake

import (
	"log"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
)

// Option configures a Cluster made by NewCluster.
type Option interface {
	apply(*config)
}

type config struct {
	objects      []runtime.Object
	start        time.Time
	autoAdvance  bool
	podStartup   time.Duration
	podShutdown  time.Duration
	versionLabel string
	quiet        time.Duration
	stallTimeout time.Duration
	stallLog     func(format string, args ...any)
	nodes        int
	jobDuration  time.Duration
}

func defaultConfig() config {
	return config{
		start:        DefaultStartTime(),
		podStartup:   time.Second,
		podShutdown:  time.Second,
		versionLabel: DefaultVersionLabel,
		quiet:        DefaultQuietWindow,
		stallTimeout: DefaultStallTimeout,
		stallLog:     log.Printf,
		nodes:        3,
		jobDuration:  DefaultJobDuration,
	}
}

// DefaultVersionLabel is the pod label whose value names a pod's version for
// SetBehavior, unless WithVersionLabel says otherwise.
const DefaultVersionLabel = "switchyard.dev/revision"

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithObjects seeds the cluster with objects: typed API objects or
// *unstructured.Unstructured (custom resources, CustomResourceDefinitions).
// CustomResourceDefinitions among them are established before the other
// objects are added, and namespaces the objects name are created if missing.
func WithObjects(objs ...runtime.Object) Option {
	return optionFunc(func(c *config) { c.objects = append(c.objects, objs...) })
}

// WithStartTime sets the clock's initial time (default DefaultStartTime,
// 2026-01-01T00:00:00Z).
func WithStartTime(t time.Time) Option {
	return optionFunc(func(c *config) { c.start = t })
}

// WithAutoAdvance starts the clock in auto-advance mode; see Clock.Track.
func WithAutoAdvance() Option {
	return optionFunc(func(c *config) { c.autoAdvance = true })
}

// WithPodStartup sets how long after its creation a pod turns Ready
// (default 1s). Behavior.Startup overrides it per version.
func WithPodStartup(d time.Duration) Option {
	return optionFunc(func(c *config) { c.podStartup = d })
}

// WithPodShutdown sets how long a gracefully deleted pod stays Terminating
// before it is gone (default 1s, capped by the pod's grace period).
func WithPodShutdown(d time.Duration) Option {
	return optionFunc(func(c *config) { c.podShutdown = d })
}

// WithVersionLabel names the pod label whose value is the version that
// SetBehavior keys on (default DefaultVersionLabel).
func WithVersionLabel(key string) Option {
	return optionFunc(func(c *config) { c.versionLabel = key })
}

// WithQuietWindow sets how long, in real time, an auto-advancing clock that
// may move first waits for anything else to happen (default
// DefaultQuietWindow; 0: it moves at once). The window is a courtesy to
// code that the clock cannot account for; see the package documentation.
func WithQuietWindow(d time.Duration) Option {
	return optionFunc(func(c *config) { c.quiet = d })
}

// WithStallTimeout sets how long, in real time, an auto-advancing clock
// with participants may see nothing happen and be unable to move before
// it reports a stall (Clock.Stall, Clock.Stalled and WithStallLog);
// default DefaultStallTimeout, 0 turns detection off.
func WithStallTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.stallTimeout = d })
}

// WithStallLog sets where stall reports are logged (default log.Printf, to
// standard error); nil logs nothing. Pass a test's Errorf to fail the test
// with the report, or Logf to see it only.
func WithStallLog(logf func(format string, args ...any)) Option {
	return optionFunc(func(c *config) { c.stallLog = logf })
}

// WithNodes sets how many Ready nodes (fake-node-0, fake-node-1, …) the
// cluster starts with (default 3).
func WithNodes(n int) Option {
	return optionFunc(func(c *config) { c.nodes = n })
}

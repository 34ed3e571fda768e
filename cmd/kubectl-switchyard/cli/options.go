package cli

import (
	"io"
	"os"
	"os/user"

	"golang.org/x/term"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// Streams are where the commands write: Out for results, Err for
// progress notes and errors.
type Streams struct {
	Out, Err io.Writer
}

// Option changes how the commands reach the cluster, tell the time or
// draw. Only this package makes Options.
type Option interface {
	apply(*settings)
}

type optionFunc func(*settings)

func (f optionFunc) apply(s *settings) { f(s) }

type settings struct {
	kube      kubernetes.Interface
	namespace string
	clock     clock.WithTickerAndDelayedExecution
	width     int // > 0: Out is a terminal this wide
	identity  string
}

// WithKube makes the commands use kube instead of loading a kubeconfig;
// namespace is the namespace they act in when -n is not given, as a
// kubeconfig context's namespace would be.
func WithKube(kube kubernetes.Interface, namespace string) Option {
	return optionFunc(func(s *settings) { s.kube, s.namespace = kube, namespace })
}

// WithClock sets the clock that ages, waits and request times use; the
// default is the real clock. Tests pass a fake cluster's clock.
func WithClock(c clock.WithTickerAndDelayedExecution) Option {
	return optionFunc(func(s *settings) { s.clock = c })
}

// WithTerminal makes watch treat Out as a terminal of width columns and
// redraw in place. By default Out is a terminal when it is one
// (golang.org/x/term).
func WithTerminal(width int) Option {
	return optionFunc(func(s *settings) { s.width = width })
}

// WithIdentity names the sender in the requests written to release records
// (Request.By). The default is "kubectl-switchyard:<user>@<host>".
func WithIdentity(id string) Option {
	return optionFunc(func(s *settings) { s.identity = id })
}

func newSettings(streams Streams, opts []Option) settings {
	s := settings{clock: clock.RealClock{}}
	for _, o := range opts {
		o.apply(&s)
	}
	if s.identity == "" {
		s.identity = defaultIdentity()
	}
	if s.width == 0 {
		s.width = terminalWidth(streams.Out)
	}
	return s
}

// terminalWidth returns the width of w when it is a terminal, and 0
// otherwise.
func terminalWidth(w io.Writer) int {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil || width <= 0 {
		return 80
	}
	return width
}

func defaultIdentity() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if name == "" {
		name = "unknown"
	}
	if host == "" {
		host = "unknown"
	}
	return "kubectl-switchyard:" + name + "@" + host
}

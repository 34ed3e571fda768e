// Package target gives the examples a cluster to ship to: switchyard's
// in-memory fake by default, with a clock that moves by itself while a
// release waits, or a real cluster named by a kubeconfig. It also prints a
// release's events as they happen.
package target

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

// Target is a cluster and the clock to use with it.
type Target struct {
	Clients strategy.Clients
	Clock   clock.WithTickerAndDelayedExecution
	// Fake is the fake cluster, nil on a real one.
	Fake *fake.Cluster
}

// Open connects to the cluster of kubeconfig, or, when it is empty, starts a
// fake cluster with namespace and opts.
func Open(kubeconfig, namespace string, opts ...fake.Option) (*Target, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, err
		}
		clients, err := strategy.NewClients(cfg)
		if err != nil {
			return nil, err
		}
		fmt.Println("cluster:", cfg.Host)
		return &Target{Clients: clients, Clock: clock.RealClock{}}, nil
	}
	opts = append([]fake.Option{fake.WithAutoAdvance()}, opts...)
	if namespace != "default" {
		opts = append(opts, fake.WithObjects(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}))
	}
	c := fake.NewCluster(opts...)
	fmt.Println("cluster: in-memory fake (time moves by itself while a release waits)")
	return &Target{Clients: c.Clients(), Clock: c.Clock(), Fake: c}, nil
}

// Main is an example's main: it reads -kubeconfig and -namespace, opens the
// target with opts, and calls run with a context that ends after timeout;
// an error is printed after name and exits with status 1.
func Main(name string, timeout time.Duration, opts []fake.Option, run func(ctx context.Context, t *Target, namespace string) error) {
	kubeconfig := flag.String("kubeconfig", "", "run against the cluster of this kubeconfig instead of the fake")
	namespace := flag.String("namespace", "default", "namespace of the app")
	flag.Parse()
	err := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		t, err := Open(*kubeconfig, *namespace, opts...)
		if err != nil {
			return err
		}
		defer t.Close()
		return run(ctx, t, *namespace)
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Close stops the fake cluster, if any.
func (t *Target) Close() {
	if t.Fake != nil {
		t.Fake.Stop()
	}
}

// Printer returns an observer that prints each event, with the time since
// now, except those of the skipped types.
func (t *Target) Printer(skip ...strategy.EventType) strategy.Observer {
	start := t.Clock.Now()
	return func(e strategy.Event) {
		if slices.Contains(skip, e.Type) {
			return
		}
		line := fmt.Sprintf("%9s  %-4s %-14s", e.Time.Sub(start).Round(time.Millisecond), e.Revision, e.Type)
		if e.Type == strategy.EventStepStarted || e.Type == strategy.EventStepSucceeded {
			line += " " + e.StepName
		}
		if e.Message != "" {
			line += " " + e.Message
		}
		if e.Err != nil {
			line += " (" + e.Err.Error() + ")"
		}
		fmt.Println(line)
	}
}

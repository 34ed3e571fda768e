// Package target gives the examples a cluster to ship to: switchyard's
// in-memory fake by default, with a clock that moves by itself while a
// release waits, or a real cluster named by a kubeconfig. It also prints a
// release's events as they happen.
package target

import (
	"fmt"
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

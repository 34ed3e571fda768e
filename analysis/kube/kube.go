// Package kube measures the health of the candidate's pods from the
// Kubernetes API, with no metrics system: container restarts and readiness
// flaps since the analysis started.
//
// Restarts and ReadinessFlaps are analysis.Providers. Each is an
// analysis.Opener: when a run starts it records the pods' restart counts
// and readiness and starts a watch, so that each measurement reports what
// happened since the start. Pods are those of the candidate slot's
// Deployment (CheckInput.Slot), by its selector, unless WithSelector says
// otherwise. The metric's Query is not used; judge the value with a
// condition such as analysis.Above(0) as the failure condition.
//
//   - Restarts: the container restarts (init containers included) of the
//     selected pods since the start; a pod created later counts all of its
//     restarts.
//   - ReadinessFlaps: the Ready-to-not-Ready transitions of the selected
//     pods since the start. Pods that are terminating do not count, nor do
//     pods that never turned Ready. Transitions are seen by the watch; each
//     measurement lists the pods and waits for the watch to have delivered
//     their listed state. Flaps while a broken watch is restarted are
//     missed.
package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/strategy"
)

type signal int

const (
	restarts signal = iota
	flaps
)

// Provider measures one signal of the candidate's pods.
type Provider struct {
	signal signal
	cfg    config
}

var (
	_ analysis.Opener     = (*Provider)(nil)
	_ analysis.Validating = (*Provider)(nil)
)

type config struct {
	selector  map[string]string
	namespace string
}

// Option configures a Provider.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithSelector selects the pods by these labels instead of the slot
// Deployment's selector.
func WithSelector(l map[string]string) Option {
	return optionFunc(func(c *config) { c.selector = l })
}

// WithNamespace looks for pods in ns instead of the release's namespace.
func WithNamespace(ns string) Option { return optionFunc(func(c *config) { c.namespace = ns }) }

// Restarts counts container restarts since the run started.
func Restarts(opts ...Option) *Provider { return newProvider(restarts, opts) }

// ReadinessFlaps counts Ready-to-not-Ready transitions since the run
// started.
func ReadinessFlaps(opts ...Option) *Provider { return newProvider(flaps, opts) }

func newProvider(s signal, opts []Option) *Provider {
	p := &Provider{signal: s}
	for _, o := range opts {
		o.apply(&p.cfg)
	}
	return p
}

// Validate checks the selector.
func (p *Provider) Validate(v *strategy.Validator, path, _ string) {
	if p.cfg.selector == nil {
		return
	}
	if _, err := labels.ValidatedSelectorFromSet(p.cfg.selector); err != nil {
		v.Add(path+".provider.kube.selector", p.cfg.selector, "%v", err)
	}
}

// Measure fails: the counts are relative to a run's start, so Run measures
// through Open.
func (p *Provider) Measure(context.Context, analysis.Query) (analysis.Result, error) {
	return analysis.Result{}, errors.New("kube: measured without Open; use the provider as a metric's provider")
}

// Open records the pods' state and starts watching them.
func (p *Provider) Open(ctx context.Context, q analysis.Query) (analysis.Provider, error) {
	kube := q.Input.Clients.Kube
	if kube == nil {
		return nil, errors.New("kube: no Kubernetes client in the check input")
	}
	ns := p.cfg.namespace
	if ns == "" {
		ns = q.Vars.Namespace
	}
	sel, err := p.selector(ctx, kube, ns, q.Vars.Slot)
	if err != nil {
		return nil, err
	}
	var clk clock.PassiveClock = clock.RealClock{}
	if q.Input.Clock != nil {
		clk = q.Input.Clock
	}
	s := &session{signal: p.signal, kube: kube, ns: ns, sel: sel, clock: clk, pods: map[types.UID]*podState{},
		changed: make(chan struct{})}
	list, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		pod := &list.Items[i]
		s.pods[pod.UID] = &podState{name: pod.Name, base: restartCount(pod), ready: podReady(pod), rv: version(pod)}
	}
	if err := s.follow(ctx, list.ResourceVersion); err != nil {
		return nil, err
	}
	return s, nil
}

func (p *Provider) selector(ctx context.Context, kube kubernetes.Interface, ns, slot string) (labels.Selector, error) {
	if p.cfg.selector != nil {
		return labels.ValidatedSelectorFromSet(p.cfg.selector)
	}
	if slot == "" {
		return nil, errors.New("kube: no slot Deployment to select pods by, and no selector")
	}
	d, err := kube.AppsV1().Deployments(ns).Get(ctx, slot, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("kube: reading the slot Deployment: %w", err)
	}
	if d.Spec.Selector == nil {
		return nil, fmt.Errorf("kube: Deployment %s/%s has no selector", ns, slot)
	}
	return metav1.LabelSelectorAsSelector(d.Spec.Selector)
}

// podState is what a session knows of one pod.
type podState struct {
	name  string
	base  int32 // restarts when first seen at the start; 0 for later pods
	ready bool
	rv    uint64 // resourceVersion seen last; 0 when not numeric
	flaps int
}

// session is a provider opened for one run.
type session struct {
	signal signal
	kube   kubernetes.Interface
	ns     string
	sel    labels.Selector
	clock  clock.PassiveClock
	watch  watch.Interface
	done   chan struct{} // closed when follow returns

	mu      sync.Mutex
	pods    map[types.UID]*podState
	flaps   int
	changed chan struct{} // closed and replaced at each event
	ended   bool          // the watch closed
}

func (s *session) list(ctx context.Context) (*corev1.PodList, error) {
	l, err := s.kube.CoreV1().Pods(s.ns).List(ctx, metav1.ListOptions{LabelSelector: s.sel.String()})
	if err != nil {
		return nil, fmt.Errorf("kube: listing pods: %w", err)
	}
	return l, nil
}

// follow starts a watch from resourceVersion rv and applies its events
// in a goroutine until it ends.
func (s *session) follow(ctx context.Context, rv string) error {
	w, err := s.kube.CoreV1().Pods(s.ns).Watch(ctx, metav1.ListOptions{LabelSelector: s.sel.String(), ResourceVersion: rv})
	if err != nil {
		return fmt.Errorf("kube: watching pods: %w", err)
	}
	done := make(chan struct{})
	s.watch, s.done, s.ended = w, done, false
	// A fake cluster's watch counts an event as pending work until the
	// next Handled, so an auto-advancing clock cannot move between its
	// receipt and its effect on the session.
	handled := func() {}
	if h, ok := w.(interface{ Handled() }); ok {
		handled = h.Handled
	}
	go func() {
		defer close(done)
		for {
			handled()
			ev, open := <-w.ResultChan()
			if !open {
				break
			}
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			s.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(s.pods, pod.UID)
			} else {
				s.observe(pod)
			}
			s.notify()
			s.mu.Unlock()
		}
		s.mu.Lock()
		s.ended = true
		s.notify()
		s.mu.Unlock()
	}()
	return nil
}

// notify wakes Measure; s.mu is held.
func (s *session) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// caughtUp reports whether the watch has delivered every listed pod's
// state; s.mu is held.
func (s *session) caughtUp(l *corev1.PodList) bool {
	for i := range l.Items {
		st, ok := s.pods[l.Items[i].UID]
		if !ok {
			return false
		}
		if rv := version(&l.Items[i]); rv != 0 && st.rv < rv {
			return false
		}
	}
	return true
}

// observe updates a pod's state and counts a flap; s.mu is held. States
// older than one already seen are ignored.
func (s *session) observe(pod *corev1.Pod) {
	rv := version(pod)
	st, ok := s.pods[pod.UID]
	if !ok {
		s.pods[pod.UID] = &podState{name: pod.Name, ready: podReady(pod), rv: rv}
		return
	}
	if rv != 0 && st.rv != 0 && rv <= st.rv {
		return
	}
	ready := podReady(pod)
	if st.ready && !ready && pod.DeletionTimestamp == nil {
		st.flaps++
		s.flaps++
	}
	st.ready, st.rv = ready, rv
}

// Measure lists the pods and reports the signal.
func (s *session) Measure(ctx context.Context, _ analysis.Query) (analysis.Result, error) {
	list, err := s.list(ctx)
	if err != nil {
		return analysis.Result{}, err
	}
	if err := s.catchUp(ctx, list); err != nil {
		return analysis.Result{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res := analysis.Result{Time: s.clock.Now()}
	var lines []string
	if s.signal == flaps {
		res.Value = float64(s.flaps)
		for _, st := range s.pods {
			if st.flaps > 0 {
				lines = append(lines, fmt.Sprintf("%s: %d", st.name, st.flaps))
			}
		}
		res.Reason = fmt.Sprintf("%d readiness flaps", s.flaps)
	} else {
		var total int32
		for i := range list.Items {
			pod := &list.Items[i]
			n := restartCount(pod)
			if st, ok := s.pods[pod.UID]; ok {
				n -= min(st.base, n)
			}
			total += n
			if n > 0 {
				lines = append(lines, fmt.Sprintf("%s: +%d", pod.Name, n))
			}
		}
		res.Value = float64(total)
		res.Reason = fmt.Sprintf("%d restarts", total)
	}
	sort.Strings(lines)
	res.Raw = fmt.Sprintf("%d pods matching %s; %s", len(list.Items), s.sel, strings.Join(lines, ", "))
	return res, nil
}

// catchUp waits until the watch has delivered the listed state of every
// pod, so that transitions before it are counted in order. When the watch
// has ended, it takes the list as it is and watches again from there.
func (s *session) catchUp(ctx context.Context, l *corev1.PodList) error {
	for {
		s.mu.Lock()
		if s.caughtUp(l) {
			s.mu.Unlock()
			return nil
		}
		if s.ended {
			for i := range l.Items {
				s.observe(&l.Items[i])
			}
			s.mu.Unlock()
			<-s.done
			return s.follow(ctx, l.ResourceVersion)
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops the watch.
func (s *session) Close() error {
	s.watch.Stop()
	<-s.done
	return nil
}

func restartCount(pod *corev1.Pod) int32 {
	var n int32
	for _, cs := range pod.Status.InitContainerStatuses {
		n += cs.RestartCount
	}
	for _, cs := range pod.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func version(pod *corev1.Pod) uint64 {
	v, _ := strconv.ParseUint(pod.ResourceVersion, 10, 64)
	return v
}

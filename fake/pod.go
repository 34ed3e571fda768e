package fake

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// crashBackoff is the kubelet's restart back-off: 10s doubling to 5m.
func crashBackoff(n int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// syncPod plays scheduler and kubelet for one pod: bind it to a node, give
// it an IP, run it per its version's Behavior, and finish its graceful
// deletion.
func (c *Cluster) syncPod(ns, name string) {
	s := c.store
	key := objKey{gvr: podsGVR, ns: ns, name: name}
	obj, ok := s.get(key)
	if !ok {
		return
	}
	p := obj.(*corev1.Pod)
	now := c.clock.Now()
	it := item{kind: itemPod, ns: ns, name: name}
	if p.DeletionTimestamp != nil {
		grace := deref(p.DeletionGracePeriodSeconds, 0)
		requested := p.DeletionTimestamp.Add(-secondsDuration(grace))
		end := requested.Add(min(secondsDuration(grace), c.cfg.podShutdown))
		if !end.After(now) {
			zero := int64(0)
			_, _ = s.deleteObj(podsGVR, ns, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}, writeOpts{internal: true})
			return
		}
		c.queue.addAfter(it, end.Sub(now))
		return
	}
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return
	}
	// The new node name and status; the status shares with the stored p
	// what this sync does not change (nobody changes stored objects in
	// place), and the conditions, which it changes in place, are copied
	// (equalSyncedPodStatus relies on this).
	node := p.Spec.NodeName
	if node == "" {
		node = c.pickNode()
	}
	st := p.Status
	// Room for the four conditions setPodConditions sets.
	st.Conditions = append(make([]corev1.PodCondition, 0, max(len(p.Status.Conditions), 4)), p.Status.Conditions...)
	if st.PodIP == "" {
		ip := c.nextPodIP()
		st.PodIP = ip
		st.PodIPs = []corev1.PodIP{{IP: ip}}
		st.HostIP = c.nodeIP(node)
		st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
		start := p.CreationTimestamp
		st.StartTime = &start
		st.QOSClass = corev1.PodQOSBestEffort
	}
	st.Phase = corev1.PodRunning
	b := c.Behavior(p.Labels[c.cfg.versionLabel])
	startup := b.Startup
	if startup <= 0 {
		startup = c.cfg.podStartup
	}
	created := p.CreationTimestamp.Time
	ready, started := false, true
	var next time.Time
	var restartCount int32
	crashing := false
	switch {
	case b.CrashLoop:
		run := max(startup, time.Second)
		t := created
		for k := 1; ; k++ {
			if t = t.Add(run); t.After(now) {
				next = t
				break
			}
			restartCount = int32(k)
			if t = t.Add(crashBackoff(k)); t.After(now) {
				crashing, next = true, t
				break
			}
		}
		started = !crashing
	case b.NeverReady:
	default:
		readyAt := created.Add(startup)
		if !readyAt.After(now) {
			ready = true
		} else {
			next = readyAt
			started = false
		}
	}
	readyAt := now
	if ready && !b.NeverReady && !b.CrashLoop {
		readyAt = created.Add(startup)
		if !podReady(p) {
			if since := readySince(p); since.After(readyAt) {
				readyAt = now // it was held back, e.g. by NeverReady
			}
		}
	}
	setPodConditions(&st, created, ready, readyAt, now)
	st.ContainerStatuses = containerStatuses(p, ready, started, crashing, restartCount, created)
	if !next.IsZero() {
		c.queue.addAfter(it, next.Sub(now))
	}
	if p.Spec.NodeName == node && equalSyncedPodStatus(&p.Status, &st) {
		return
	}
	// The store owns n, which shares all but its top-level fields and
	// status with p.
	n := new(corev1.Pod)
	*n = *p
	n.Spec.NodeName = node
	n.Status = st
	if _, err := s.update(podsGVR, ns, n, writeOpts{internal: true}); err != nil {
		c.queue.add(it)
	}
}

// setPodConditions sets the conditions of a pod created at created in ps,
// whose Conditions slice it changes in place.
func setPodConditions(ps *corev1.PodStatus, created time.Time, ready bool, readyAt, now time.Time) {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	set := func(t corev1.PodConditionType, st corev1.ConditionStatus, at time.Time) {
		for i := range ps.Conditions {
			cnd := &ps.Conditions[i]
			if cnd.Type == t {
				if cnd.Status != st {
					cnd.Status = st
					cnd.LastTransitionTime = metav1.NewTime(at)
				}
				return
			}
		}
		ps.Conditions = append(ps.Conditions, corev1.PodCondition{Type: t, Status: st, LastTransitionTime: metav1.NewTime(at)})
	}
	set(corev1.PodScheduled, corev1.ConditionTrue, created)
	set(corev1.PodInitialized, corev1.ConditionTrue, created)
	at := now
	if ready {
		at = readyAt
	}
	set(corev1.ContainersReady, status, at)
	set(corev1.PodReady, status, at)
}

// containerStatuses returns the container statuses of pod old after a sync;
// the sync changes neither its containers nor its UID.
func containerStatuses(old *corev1.Pod, ready, started, crashing bool, restarts int32, created time.Time) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, 0, len(old.Spec.Containers))
	for i, ct := range old.Spec.Containers {
		cs := corev1.ContainerStatus{
			Name: ct.Name, Image: ct.Image, ImageID: "fake://" + ct.Image,
			ContainerID: fmt.Sprintf("fake://%s/%s", old.UID, ct.Name),
			Ready:       ready, Started: &started, RestartCount: restarts,
		}
		switch {
		case crashing:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off restarting failed container %s", ct.Name)}
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}
		default:
			st := metav1.NewTime(created)
			if i < len(old.Status.ContainerStatuses) && old.Status.ContainerStatuses[i].State.Running != nil && restarts == old.Status.ContainerStatuses[i].RestartCount {
				st = old.Status.ContainerStatuses[i].State.Running.StartedAt
			}
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: st}
			if restarts > 0 {
				cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}
			}
		}
		out = append(out, cs)
	}
	return out
}

// pickNode spreads pods over the nodes round-robin.
func (c *Cluster) pickNode() string {
	c.ctl.mu.Lock()
	defer c.ctl.mu.Unlock()
	if c.cfg.nodes <= 0 {
		return "fake-node-0"
	}
	n := c.ctl.nextNode % c.cfg.nodes
	c.ctl.nextNode++
	return fmt.Sprintf("fake-node-%d", n)
}

// nextPodIP returns a unique pod IP in 10.244.0.0/14.
func (c *Cluster) nextPodIP() string {
	c.ctl.mu.Lock()
	defer c.ctl.mu.Unlock()
	c.ctl.podIP++
	n := c.ctl.podIP + 1
	return fmt.Sprintf("10.%d.%d.%d", 244+(n>>16)%4, (n>>8)&255, n&255)
}

func (c *Cluster) nodeIP(node string) string {
	var i int
	if _, err := fmt.Sscanf(node, "fake-node-%d", &i); err != nil {
		return "10.0.0.1"
	}
	return fmt.Sprintf("10.0.%d.%d", (i+1)/250, (i+1)%250)
}

// newNode returns a Ready node.
func newNode(name string, i int) *corev1.Node {
	alloc := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("8"),
		corev1.ResourceMemory: resource.MustParse("32Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"topology.kubernetes.io/zone": fmt.Sprintf("fake-zone-%d", i%3),
		}},
		Spec: corev1.NodeSpec{PodCIDR: fmt.Sprintf("10.244.%d.0/24", i)},
		Status: corev1.NodeStatus{
			Capacity: alloc, Allocatable: alloc,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.0.%d.%d", (i+1)/250, (i+1)%250)}, {Type: corev1.NodeHostName, Address: name}},
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: ServerVersion.GitVersion, OperatingSystem: "linux", Architecture: "amd64"},
		},
	}
}

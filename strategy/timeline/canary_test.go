package timeline_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

var write = flag.Bool("write", false, "write the picture of the canary release to docs/timeline-canary.svg")

// TestCanaryTimeline runs the canary release of the scenario (examples/canary
// with pauses and a person's requests) and checks its timeline: the
// entries in order, no record write of its own, and its picture. With
// -write it leaves the picture in docs/timeline-canary.svg:
//
//	go test ./strategy/timeline/ -run TestCanaryTimeline -args -write
func TestCanaryTimeline(t *testing.T) {
	s := newScenario(t)
	writes := s.watchWrites()
	st := s.run()
	recs := writes.until(t, s)

	t.Run("entries in order", func(t *testing.T) { checkOrder(t, st) })
	t.Run("no write of its own", func(t *testing.T) { checkWrites(t, recs) })
	t.Run("picture", func(t *testing.T) {
		root, out := render(t, st)
		assert.Equal(t, "web · v2 · canary · Succeeded", root.all("text", "title")[0].Text)
		assert.Equal(t, 4, steps(root.all("path", "weight")[0].attr("d")), "0 to 2, 25, 75 and 100%")
		n := 0
		for _, e := range st.Timeline {
			if e.Kind == strategy.EntryStep {
				n++
			}
		}
		assert.Len(t, root.all("line", "marker", "step"), n, "a marker per step")
		assert.Len(t, root.all("line", "marker", "request"), 3)
		assert.Len(t, root.all("circle", "measurement", "successful"), 6)
		assert.Len(t, root.all("line", "limit"), 1)
		assert.Len(t, root.all("rect", "pause"), 2, "the person's pause, and the wait for Promote")
		assert.Len(t, root.all("rect", "timed-pause"), 2)
		if *write {
			require.NoError(t, os.WriteFile(filepath.Join("..", "..", "docs", "timeline-canary.svg"), out, 0o644))
		}
	})
}

// key is what checkOrder compares of an entry.
func key(e strategy.Entry) string {
	switch e.Kind {
	case strategy.EntryStep:
		return "step " + e.StepName
	case strategy.EntryTraffic:
		return fmt.Sprintf("traffic %d%%", e.Weight)
	case strategy.EntryPhase:
		return "phase " + string(e.Phase)
	case strategy.EntryRequest:
		return fmt.Sprintf("request %s by %s", e.Action, e.By)
	case strategy.EntryMeasurement:
		return fmt.Sprintf("measurement %s %s %s", e.Metric, e.Verdict, e.Limit)
	}
	return string(e.Kind)
}

func checkOrder(t *testing.T, st *strategy.Status) {
	m := "measurement error-ratio Successful result <= 0.05"
	want := []string{
		"phase Progressing", "step 0-SetWeight", "traffic 2%", "step 1-Analysis", m, m, m, "check",
		"step 2-SetWeight", "traffic 25%", "step 3-Pause",
		"request Pause by oncall", "phase Paused", "request Resume by oncall", "phase Progressing",
		"step 4-Analysis", m, m, m, "check", "step 5-SetWeight", "traffic 75%",
		"step 6-Pause", "phase Paused", "request Promote by oncall", "phase Progressing",
		"step 7-SetWeight", "traffic 100%", "step promote", "phase Promoting", "phase Succeeded",
	}
	var got []string
	for i, e := range st.Timeline {
		got = append(got, key(e))
		if i > 0 {
			assert.False(t, e.Time.Before(st.Timeline[i-1].Time), "entry %d (%s) is older than the one before", i, key(e))
		}
		if e.Kind == strategy.EntryRequest {
			assert.False(t, e.Sent.IsZero() || e.Sent.After(e.Time), "request %d: sent %s, taken %s", i, e.Sent, e.Time)
		}
	}
	rest := got
	for _, w := range want {
		i := indexOf(rest, w)
		if !assert.GreaterOrEqual(t, i, 0, "%q is missing where expected in:\n%s", w, strings.Join(got, "\n")) {
			return
		}
		rest = rest[i+1:]
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// checkWrites checks that the timeline costs no write of the record: each
// write by the driver (one that adds no request) changes more than the
// timeline, the measurements and the lease's times, or renews the lease,
// which the driver does exactly half a lease after an earlier write.
func checkWrites(t *testing.T, recs []*record.Record) {
	require.NotEmpty(t, recs)
	every := strategy.DefaultLeaseDuration / 2
	due := map[time.Time]bool{recs[0].Lease.Renewed.Add(every): true}
	driver, renewals, withEntries := 0, 0, 0
	for i := 1; i < len(recs); i++ {
		prev, cur := recs[i-1], recs[i]
		due[cur.Lease.Renewed.Add(every)] = true
		if cur.Seq != prev.Seq {
			continue // a request, written by the Control
		}
		driver++
		if len(cur.Timeline) != len(prev.Timeline) {
			withEntries++
		}
		if !sameBesidesTimeline(prev, cur) {
			continue
		}
		renewals++
		a, _ := record.Encode(prev)
		b, _ := record.Encode(cur)
		assert.True(t, due[cur.Lease.Renewed], "write %d changed only the timeline, the measurements or the lease, "+
			"and no renewal was due at %s:\n%s\n%s", i, cur.Lease.Renewed, a, b)
	}
	t.Logf("%d record writes by the driver, %d of them lease renewals, %d with timeline entries", driver, renewals, withEntries)
	assert.Positive(t, withEntries)
}

func sameBesidesTimeline(a, b *record.Record) bool {
	strip := func(r *record.Record) string {
		c := r.Clone()
		c.Timeline, c.Measurements, c.Updated, c.Lease.Renewed = nil, nil, time.Time{}, time.Time{}
		raw, err := record.Encode(c)
		if err != nil {
			panic(err)
		}
		return raw
	}
	return strip(a) == strip(b)
}

// writes are the versions of the release record a watch saw.
type writes struct {
	mu      sync.Mutex
	recs    []*record.Record
	rvs     []string
	changed chan struct{}
}

// watchWrites watches the release record and keeps each version from now.
func (s *scenario) watchWrites() *writes {
	s.t.Helper()
	w, err := s.c.Clients().Kube.CoreV1().ConfigMaps(web.Namespace).Watch(s.ctx,
		metav1.ListOptions{FieldSelector: "metadata.name=" + strategy.RecordName(web.Name)})
	require.NoError(s.t, err)
	s.t.Cleanup(w.Stop)
	ws := &writes{changed: make(chan struct{})}
	go func() {
		for ev := range w.ResultChan() {
			cm, ok := ev.Object.(interface{ GetResourceVersion() string })
			if !ok {
				continue
			}
			rec, err := decodeEvent(ev.Object)
			ws.mu.Lock()
			if err == nil {
				ws.recs, ws.rvs = append(ws.recs, rec), append(ws.rvs, cm.GetResourceVersion())
			}
			close(ws.changed)
			ws.changed = make(chan struct{})
			ws.mu.Unlock()
		}
	}()
	return ws
}

// until returns the versions seen once the watch has seen the record as it
// is now.
func (ws *writes) until(t *testing.T, s *scenario) []*record.Record {
	t.Helper()
	cm, err := s.c.Clients().Kube.CoreV1().ConfigMaps(web.Namespace).Get(s.ctx, strategy.RecordName(web.Name), metav1.GetOptions{})
	require.NoError(t, err)
	for {
		ws.mu.Lock()
		if n := len(ws.rvs); n > 0 && ws.rvs[n-1] == cm.ResourceVersion {
			defer ws.mu.Unlock()
			return ws.recs
		}
		ch := ws.changed
		ws.mu.Unlock()
		select {
		case <-ch:
		case <-s.ctx.Done():
			t.Fatalf("waiting for the watch to see version %s: %v", cm.ResourceVersion, s.ctx.Err())
		}
	}
}

func decodeEvent(obj any) (*record.Record, error) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return nil, fmt.Errorf("not a ConfigMap: %T", obj)
	}
	return record.Decode(web, cm)
}

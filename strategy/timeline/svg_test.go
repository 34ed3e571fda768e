package timeline_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/timeline"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// node is an element of a parsed SVG.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []node     `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// all returns the elements under n (n included) named name whose classes
// include every one of classes.
func (n node) all(name string, classes ...string) []node {
	var out []node
	if n.XMLName.Local == name {
		have := strings.Fields(n.attr("class"))
		ok := true
		for _, c := range classes {
			ok = ok && contains(have, c)
		}
		if ok {
			out = append(out, n)
		}
	}
	for _, c := range n.Nodes {
		out = append(out, c.all(name, classes...)...)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// render draws st and parses the picture, which must be well-formed.
func render(t *testing.T, st *strategy.Status, opts ...timeline.Option) (node, []byte) {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, timeline.SVG(&b, st, opts...))
	var root node
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	dec.Strict = true
	require.NoError(t, dec.Decode(&root), "the picture is not well-formed XML")
	require.Equal(t, "svg", root.XMLName.Local)
	require.Equal(t, "http://www.w3.org/2000/svg", root.XMLName.Space)
	return root, b.Bytes()
}

// steps counts the vertical moves of a step path.
func steps(d string) int { return strings.Count(d, " V") }

func TestSVGOfAnAbortedRelease(t *testing.T) {
	t.Parallel()
	root, _ := render(t, abortedStatus())
	assert.Equal(t, "960", root.attr("width"))
	titles := root.all("text", "title")
	require.Len(t, titles, 1)
	assert.Equal(t, "web · v3 · canary · Aborted", titles[0].Text)

	weight := root.all("path", "weight")
	require.Len(t, weight, 1)
	assert.Equal(t, 2, steps(weight[0].attr("d")), "10%, then 0% at the rollback")
	assert.Len(t, root.all("path", "pods", "stable"), 1)

	for class, want := range map[string]int{"step": 3, "request": 2, "phase": 2, "abort": 3, "other": 1} {
		assert.Len(t, root.all("line", "marker", class), want, "markers of %s", class)
	}
	var labels []string
	for _, l := range root.all("text", "marker-label") {
		labels = append(labels, strings.TrimSpace(l.Text))
	}
	assert.Contains(t, labels, "Pause by alice@example, paused")
	assert.Contains(t, labels, "Resume by alice@example, resumed")
	assert.Contains(t, labels, "rollback")

	panels := root.all("g", "panel")
	require.Len(t, panels, 2)
	assert.Equal(t, "latency/p99", panels[0].attr("data-metric"))
	assert.Equal(t, "errors/error-ratio", panels[1].attr("data-metric"))
	assert.Len(t, panels[0].all("line", "limit"), 1)
	assert.Len(t, panels[1].all("line", "limit"), 1)
	assert.Len(t, panels[0].all("circle", "measurement", "successful"), 2)
	assert.Len(t, panels[0].all("circle", "measurement", "no-value"), 1, "a sample set is not drawn as a value")
	assert.Len(t, panels[1].all("circle", "measurement", "failed"), 2)
	assert.Len(t, panels[1].all("circle", "measurement", "no-value"), 1, "an error has no value")
	assert.Len(t, root.all("rect", "pause"), 1)
	assert.Empty(t, root.all("rect", "timed-pause"))
}

// TestSVGGolden compares the picture of abortedStatus with
// testdata/aborted.svg; -update rewrites it.
func TestSVGGolden(t *testing.T) {
	t.Parallel()
	_, got := render(t, abortedStatus())
	_, again := render(t, abortedStatus())
	require.Equal(t, string(got), string(again), "the same status draws the same picture")
	path := filepath.Join("testdata", "aborted.svg")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run TestSVGGolden ./strategy/timeline/ -args -update")
	assert.Equal(t, string(want), string(got))
}

func TestSVGOptions(t *testing.T) {
	t.Parallel()
	root, _ := render(t, abortedStatus(), timeline.WithWidth(640), timeline.WithLocation(time.FixedZone("CET", 3600)))
	assert.Equal(t, "640", root.attr("width"))
	sub := root.all("text", "subtitle")
	require.Len(t, sub, 1)
	assert.Contains(t, sub[0].Text, "started 2026-03-01 13:00:00 CET")
	root, _ = render(t, abortedStatus(), timeline.WithWidth(10))
	assert.Equal(t, "480", root.attr("width"))
}

// TestSVGOfAnyStatus draws statuses no driver writes (a record is input:
// anyone may edit it): the picture stays well-formed and nothing in it is
// markup from the record.
func TestSVGOfAnyStatus(t *testing.T) {
	t.Parallel()
	hostile := "<script>alert(1)</script> ]]> & \x01\x1b[31m \xff\xfe \u2028"
	for name, st := range map[string]*strategy.Status{
		"empty": {},
		"no timeline": {App: web, Strategy: "canary", Revision: "v1", Phase: strategy.PhaseProgressing, Started: t0,
			Updated: at(time.Hour)},
		"one entry": {Timeline: []strategy.Entry{{Time: t0, Kind: strategy.EntryStep, StepName: "deploy"}}},
		"hostile text": {App: types.NamespacedName{Name: hostile, Namespace: hostile}, Strategy: hostile, Revision: hostile,
			Phase: strategy.Phase(hostile), Message: hostile, Timeline: []strategy.Entry{
				{Time: t0, Kind: strategy.EntryStep, StepName: hostile, StepKind: hostile},
				{Time: at(time.Second), Kind: strategy.EntryRequest, Action: strategy.Action(hostile), By: hostile},
				{Time: at(2 * time.Second), Kind: strategy.EntryMeasurement, Analysis: hostile, Metric: hostile, Value: hostile,
					Verdict: hostile, Limit: hostile + " < 5"},
				{Time: at(3 * time.Second), Kind: strategy.EntryKind(hostile), Message: hostile},
			}},
		"odd numbers and times": {Phase: strategy.PhasePaused, Timeline: []strategy.Entry{
			{Kind: strategy.EntryTraffic, Weight: -50, CanaryPods: -3, StablePods: 1 << 30},
			{Time: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), Kind: strategy.EntryTraffic, Weight: 1000},
			{Time: t0, Kind: strategy.EntryMeasurement, Metric: "m", Value: "NaN", Limit: "result < 1e400"},
			{Time: t0, Kind: strategy.EntryMeasurement, Metric: "m", Value: "1e400", Limit: "result > -Inf"},
			{Time: t0, Kind: strategy.EntryMeasurement, Metric: "m", Value: "-1e300", Limit: "result <= 1e300"},
			{Time: t0, Kind: strategy.EntryPhase, Phase: strategy.PhasePaused},
			{Time: t0.Add(-time.Hour), Kind: strategy.EntryRollback},
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			root, out := render(t, st)
			assert.Empty(t, root.all("script"))
			assert.NotContains(t, string(out), "<script")
			var b bytes.Buffer
			require.NoError(t, timeline.Text(&b, st))
			assert.Equal(t, strings.Count(b.String(), "\n"), max(len(st.Timeline)+2, 2), "one line per entry:\n%s", b.String())
		})
	}
}

func TestNoStatus(t *testing.T) {
	t.Parallel()
	assert.Error(t, timeline.SVG(&bytes.Buffer{}, nil))
	assert.Error(t, timeline.Text(&bytes.Buffer{}, nil))
}

package cli

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/strategy"
)

// TestTimeline shows the timeline of a blue/green release of v2 while it
// waits for its promotion, as text and as a picture, and once promoted,
// as JSON.
func TestTimeline(t *testing.T) {
	h := newHarness(t)
	done := h.pausedV2()

	r := h.run("timeline", "web")
	require.Equal(t, ExitOK, r.code, r.err)
	assert.True(t, strings.HasPrefix(r.out, "web in default: bluegreen v2, Paused, serving v1, started "), r.out)
	assert.Regexp(t, `\nTIME +SINCE START +KIND +WHAT\n`, r.out)
	assert.Regexp(t, `\n\S+ +\+0:00 +step +step 0 \S+\n`, r.out)
	assert.Regexp(t, `\n\S+ +\+\S+ +phase +Paused: paused until Promote\n`, r.out)

	r = h.run("timeline", "web", "-o", "svg")
	require.Equal(t, ExitOK, r.code, r.err)
	titles := svgTexts(t, r.out, "title")
	assert.Equal(t, []string{"web · v2 · bluegreen · Paused"}, titles)

	require.NoError(t, h.control.Promote(h.ctx, h.app))
	o := h.finish(done)
	require.NoError(t, o.err)
	r = h.run("timeline", "web", "-o", "json")
	require.Equal(t, ExitOK, r.code, r.err)
	var got ReleaseTimeline
	require.NoError(t, json.Unmarshal([]byte(r.out), &got), r.out)
	assert.Equal(t, "v2", got.Revision)
	assert.Equal(t, strategy.PhaseSucceeded, got.Phase)
	var promote, switched bool
	for _, e := range got.Timeline {
		promote = promote || e.Kind == strategy.EntryRequest && e.Action == strategy.ActionPromote && e.By == "test"
		switched = switched || e.Kind == strategy.EntryTraffic && e.Weight == 100 && e.Slot != ""
	}
	assert.True(t, promote, "the Promote is in the timeline, with who sent it: %s", r.out)
	assert.True(t, switched, "the switch is in the timeline: %s", r.out)
	assert.Equal(t, strategy.EntryPhase, got.Timeline[len(got.Timeline)-1].Kind)
}

func TestTimelineErrors(t *testing.T) {
	h := newHarness(t)
	h.ship(h.strategy(false), "v1")
	for name, tc := range map[string]struct {
		args []string
		code int
		err  string
	}{
		"no app":        {args: []string{"timeline"}, code: ExitUsage, err: "takes one argument"},
		"bad output":    {args: []string{"timeline", "web", "-o", "yaml"}, code: ExitUsage, err: "choose text, svg or json"},
		"no record":     {args: []string{"timeline", "nope"}, code: ExitNotFound, err: "no release of nope"},
		"first release": {args: []string{"timeline", "web"}, code: ExitOK},
	} {
		t.Run(name, func(t *testing.T) {
			r := h.run(tc.args...)
			assert.Equal(t, tc.code, r.code, r.err)
			assert.Contains(t, r.err, tc.err)
		})
	}
}

// svgTexts parses an SVG, which must be well-formed, and returns the text
// of its elements of class class.
func svgTexts(t *testing.T, svg, class string) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader([]byte(svg)))
	dec.Strict = true
	var out []string
	for {
		tok, err := dec.Token()
		if err != nil {
			require.Equal(t, "EOF", err.Error(), "the picture is not well-formed")
			return out
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		for _, a := range start.Attr {
			if a.Name.Local == "class" && a.Value == class {
				var text string
				require.NoError(t, dec.DecodeElement(&text, &start))
				out = append(out, text)
			}
		}
	}
}

package timeline

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Sizes of the picture, in pixels.
const (
	marginLeft  = 64
	marginRight = 64
	headerH     = 70 // title, subtitle and legend
	rowH        = 13 // a row of marker labels
	maxRows     = 6
	trafficH    = 170
	panelGap    = 32 // room for a panel's title
	panelH      = 64
	axisH       = 40
	charW       = 5.9 // a label character at font-size 10, at most on average
	maxLabel    = 48  // characters of a marker label
)

// Colours of the picture.
const (
	colWeight = "#1f77b4"
	colCanary = "#ff7f0e"
	colStable = "#7f7f7f"
	colLimit  = "#d62728"
	colGrid   = "#e5e5e5"
	colText   = "#333333"
	colPause  = "#f2b700"
)

var markColour = map[string]string{
	markAbort: "#d62728", markRequest: "#9467bd", markPhase: "#2ca02c", markStep: "#8c8c8c", markOther: "#17becf",
}

var verdictColour = map[string]string{
	"Successful": "#2ca02c", "Failed": "#d62728", "Inconclusive": "#ff9900", "Error": "#7f7f7f", "Running": "#9467bd",
}

// SVG draws the timeline of st as a self-contained SVG picture: the
// traffic split and pods over time, a panel per analysis metric, and
// markers for steps, pauses, promotion, aborts and requests. The output
// depends only on st and opts.
func SVG(w io.Writer, st *strategy.Status, opts ...Option) error {
	if st == nil {
		return fmt.Errorf("drawing a timeline: no status")
	}
	d := newDrawing(st, newConfig(opts))
	d.header()
	d.spans()
	d.trafficPanel()
	for i, p := range d.m.panels {
		d.metricPanel(i, p)
	}
	d.markers()
	d.axis()
	d.s.WriteString("</svg>\n")
	_, err := w.Write(d.s.Bytes())
	return err
}

// drawing is one picture being written.
type drawing struct {
	st     *strategy.Status
	cfg    config
	m      *model
	s      bytes.Buffer
	labels []placed
	rows   int
	// plot is the x range of the panels; plotTop and plotBottom their y
	// range, panels included.
	left, right         float64
	plotTop, plotBottom float64
	height              float64
}

func newDrawing(st *strategy.Status, cfg config) *drawing {
	d := &drawing{st: st, cfg: cfg, m: newModel(st)}
	d.left, d.right = marginLeft, float64(cfg.width-marginRight)
	d.labels, d.rows = d.placeLabels()
	d.plotTop = headerH + float64(d.rows)*rowH + 8
	d.plotBottom = d.plotTop + trafficH + float64(len(d.m.panels))*(panelGap+panelH)
	d.height = d.plotBottom + axisH
	d.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%s" viewBox="0 0 %d %s" font-family="DejaVu Sans, Verdana, sans-serif" font-size="11" fill="%s">`+"\n",
		cfg.width, num(d.height), cfg.width, num(d.height), colText)
	d.f("<title>%s</title>\n", esc(d.title()))
	d.f(`<rect class="background" x="0" y="0" width="%d" height="%s" fill="#ffffff"/>`+"\n", cfg.width, num(d.height))
	return d
}

func (d *drawing) f(format string, args ...any) { fmt.Fprintf(&d.s, format, args...) }

// line writes a line from (x1, y1) to (x2, y2) with class, when set, and
// attrs.
func (d *drawing) line(class string, x1, y1, x2, y2 float64, attrs string) {
	if class != "" {
		class = ` class="` + class + `"`
	}
	d.f("<line%s x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\" %s/>\n", class, num(x1), num(y1), num(x2), num(y2), attrs)
}

// x is the position of time t.
func (d *drawing) x(t time.Time) float64 {
	span := d.m.end.Sub(d.m.start)
	return d.left + (d.right-d.left)*float64(t.Sub(d.m.start))/float64(span)
}

func (d *drawing) title() string {
	st := d.st
	return fmt.Sprintf("%s · %s · %s · %s", st.App.Name, orDash(st.Revision), orDash(st.Strategy), orDash(string(st.Phase)))
}

// header writes the title, a line about the release and the legend.
func (d *drawing) header() {
	st := d.st
	d.f(`<text class="title" x="16" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", esc(d.title()))
	sub := fmt.Sprintf("%s in %s", st.App.Name, orDash(st.App.Namespace))
	if st.Stable != "" {
		sub += ", serving " + st.Stable
	}
	if !st.Started.IsZero() {
		sub += ", started " + st.Started.In(d.cfg.loc).Format("2006-01-02 15:04:05 MST")
	}
	if st.Phase.Terminal() && !st.Started.IsZero() {
		sub += ", took " + strings.TrimPrefix(offset(d.m.last.Sub(st.Started)), "+")
	}
	if reason := join(reasonText(st.Reason), "", st.Message); reason != "" {
		sub += " · " + clipText(reason, 90)
	}
	d.f(`<text class="subtitle" x="16" y="42">%s</text>`+"\n", esc(sub))
	d.legend(16, 60)
}

// legend writes the key of the lines, areas and points.
func (d *drawing) legend(x, y float64) {
	d.f(`<g class="legend" font-size="10">` + "\n")
	for _, l := range []struct{ colour, width, dash, text string }{
		{colWeight, "2.5", "", "traffic to the new revision (%)"},
		{colCanary, "1.5", "5 2", "canary pods"},
		{colStable, "1.5", "2 2", "stable pods"},
		{colLimit, "1", "4 3", "limit"},
	} {
		dash := ""
		if l.dash != "" {
			dash = ` stroke-dasharray="` + l.dash + `"`
		}
		d.line("", x, y-4, x+18, y-4, fmt.Sprintf(`stroke="%s" stroke-width="%s"%s`, l.colour, l.width, dash))
		x = d.legendText(x+22, y, l.text)
	}
	for _, p := range []struct{ opacity, text string }{{"0.3", "paused"}, {"0.12", "timed pause"}} {
		d.f(`<rect x="%s" y="%s" width="16" height="9" fill="%s" fill-opacity="%s"/>`+"\n", num(x), num(y-8.5), colPause, p.opacity)
		x = d.legendText(x+20, y, p.text)
	}
	for _, v := range []string{"Successful", "Failed", "Inconclusive"} {
		d.f(`<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", num(x+4), num(y-4), verdictColour[v])
		x = d.legendText(x+11, y, strings.ToLower(v))
	}
	d.f("</g>\n")
}

// legendText writes s at x and returns where the next item goes.
func (d *drawing) legendText(x, y float64, s string) float64 {
	d.f(`<text x="%s" y="%s">%s</text>`+"\n", num(x), num(y), esc(s))
	return x + float64(len(s))*charW + 14
}

// spans shades the pauses across every panel.
func (d *drawing) spans() {
	d.f(`<g class="spans">` + "\n")
	for _, sp := range d.m.spans {
		opacity := "0.3"
		if sp.class == "timed-pause" {
			opacity = "0.12"
		}
		x0, x1 := d.x(sp.from), d.x(sp.to)
		d.f(`<rect class="%s" x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="%s"><title>%s</title></rect>`+"\n",
			sp.class, num(x0), num(d.plotTop), num(max(x1-x0, 1)), num(d.plotBottom-d.plotTop), colPause, opacity,
			esc(fmt.Sprintf("%s %s to %s", strings.ReplaceAll(sp.class, "-", " "), offset(sp.from.Sub(d.m.start)), offset(sp.to.Sub(d.m.start)))))
	}
	d.f("</g>\n")
}

// esc escapes s as XML text; characters XML cannot hold become U+FFFD.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// num writes a coordinate with at most one decimal.
func num(v float64) string {
	return strconv.FormatFloat(float64(int64(v*10+copySign(0.5, v)))/10, 'f', -1, 64)
}

func copySign(a, b float64) float64 {
	if b < 0 {
		return -a
	}
	return a
}

// clipText cuts s to n characters, ending it with "…" when cut.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

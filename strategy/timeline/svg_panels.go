package timeline

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// placed is a group of markers close together, with their label placed in
// a row above the panels (row -1: no room for it).
type placed struct {
	x       float64
	class   string
	text    string
	row     int
	anchor  string // "start" or "end"
	markers []marker
}

// placeLabels groups markers a few pixels apart and gives each group's
// label the first row where it overlaps no other. It returns the groups
// and the rows used.
func (d *drawing) placeLabels() ([]placed, int) {
	var groups []placed
	for _, mk := range d.m.markers {
		x := d.x(mk.t)
		if n := len(groups); n > 0 && x-groups[n-1].x < 4 {
			g := &groups[n-1]
			g.markers = append(g.markers, mk)
			if slices.Index(markOrder, mk.class) < slices.Index(markOrder, g.class) {
				g.class = mk.class
			}
			continue
		}
		groups = append(groups, placed{x: x, class: mk.class, markers: []marker{mk}})
	}
	taken := make([][][2]float64, maxRows)
	rows := 1
	for i := range groups {
		g := &groups[i]
		var texts []string
		for _, mk := range g.markers {
			if mk.label != "" && !slices.Contains(texts, mk.label) {
				texts = append(texts, mk.label)
			}
		}
		g.text = clipText(strings.Join(texts, ", "), maxLabel)
		w := float64(len([]rune(g.text))) * charW
		span, anchor := [2]float64{g.x + 3, g.x + 3 + w}, "start"
		if span[1] > float64(d.cfg.width)-4 {
			span, anchor = [2]float64{g.x - 3 - w, g.x - 3}, "end"
		}
		g.row, g.anchor = -1, anchor
		for r := range taken {
			if !overlaps(taken[r], span) {
				taken[r] = append(taken[r], span)
				g.row, rows = r, max(rows, r+1)
				break
			}
		}
	}
	return groups, rows
}

func overlaps(spans [][2]float64, s [2]float64) bool {
	for _, o := range spans {
		if s[0] < o[1]+6 && o[0] < s[1]+6 {
			return true
		}
	}
	return false
}

// markers draws a vertical line per marker, from its label down through
// every panel, and the labels.
func (d *drawing) markers() {
	d.f(`<g class="markers" font-size="10">` + "\n")
	for _, g := range d.labels {
		top := d.plotTop
		if g.row >= 0 && g.text != "" {
			top = headerH + float64(g.row)*rowH + 2
		}
		var titles []string
		for _, mk := range g.markers {
			dash := ""
			if mk.class == markRequest {
				dash = ` stroke-dasharray="3 2"`
			}
			d.line("marker "+mk.class, g.x, top, g.x, d.plotBottom, fmt.Sprintf(`stroke="%s" stroke-width="1"%s`, markColour[mk.class], dash))
			titles = append(titles, offset(mk.t.Sub(d.m.start))+" "+mk.label)
		}
		if g.row < 0 || g.text == "" {
			continue
		}
		x := g.x + 3
		if g.anchor == "end" {
			x = g.x - 3
		}
		d.f(`<text class="marker-label" x="%s" y="%s" text-anchor="%s" fill="%s" stroke="#ffffff" stroke-width="3" paint-order="stroke">%s<title>%s</title></text>`+"\n",
			num(x), num(top+rowH-4), g.anchor, markColour[g.class], esc(g.text), esc(strings.Join(titles, "\n")))
	}
	d.f("</g>\n")
}

// grid draws the time grid across the panels.
func (d *drawing) grid() {
	d.f(`<g class="grid" stroke="%s" stroke-width="1">`+"\n", colGrid)
	for _, t := range d.ticks() {
		x := d.x(t)
		d.line("", x, d.plotTop, x, d.plotBottom, "")
	}
	d.f("</g>\n")
}

// axis writes the time labels under the panels.
func (d *drawing) axis() {
	y := d.plotBottom
	d.f(`<g class="axis" font-size="10" text-anchor="middle">` + "\n")
	for _, t := range d.ticks() {
		x := d.x(t)
		d.line("", x, y, x, y+4, `stroke="`+colText+`"`)
		d.f(`<text x="%s" y="%s">%s</text>`+"\n", num(x), num(y+15), offset(t.Sub(d.m.start)))
	}
	d.f(`<text x="%s" y="%s">time since %s (minutes:seconds)</text>`+"\n", num((d.left+d.right)/2), num(y+31),
		esc(d.m.start.In(d.cfg.loc).Format("2006-01-02 15:04:05 MST")))
	d.f("</g>\n")
}

// ticks are the times of the axis' labels: round steps from the start,
// about 90 pixels apart at least.
func (d *drawing) ticks() []time.Time {
	span := d.m.end.Sub(d.m.start)
	most := max(int((d.right-d.left)/90), 2)
	step := time.Duration(0)
	for _, s := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second,
		30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
		30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if step = s; int(span/s) <= most {
			break
		}
	}
	if int(span/step) > most {
		step = span / time.Duration(most)
	}
	var out []time.Time
	for t := time.Duration(0); t <= span && len(out) <= most; t += step {
		out = append(out, d.m.start.Add(t))
	}
	return out
}

// trafficPanel draws the weight and the pods of each slot.
func (d *drawing) trafficPanel() {
	top, bottom := d.plotTop, d.plotTop+trafficH
	d.grid()
	d.f(`<g class="traffic">` + "\n")
	d.f(`<rect class="frame" x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#bbbbbb"/>`+"\n",
		num(d.left), num(top), num(d.right-d.left), num(trafficH))
	yw := func(v float64) float64 { return bottom - (bottom-top-10)*v/100 }
	for _, p := range []float64{0, 25, 50, 75, 100} {
		d.line("", d.left, yw(p), d.right, yw(p), `stroke="`+colGrid+`"`)
		d.f(`<text x="%s" y="%s" text-anchor="end" font-size="10" fill="%s">%s%%</text>`+"\n", num(d.left-6), num(yw(p)+3), colWeight, num(p))
	}
	d.f(`<text x="%s" y="%s" font-size="10">traffic to %s</text>`+"\n", num(d.left+4), num(top+12), esc(orDash(d.st.Revision)))
	d.podsAxis(top, bottom)
	d.f(`<path class="weight" d="%s" fill="none" stroke="%s" stroke-width="2.5"/>`+"\n", d.stepPath(d.m.weight, d.m.end, yw), colWeight)
	for _, p := range d.m.weight[1:] {
		d.f(`<text class="weight-label" x="%s" y="%s" font-size="10" font-weight="bold" fill="%s" stroke="#ffffff" stroke-width="3" paint-order="stroke">%s%%</text>`+"\n",
			num(d.x(p.t)+4), num(yw(p.v)-5), colWeight, num(p.v))
	}
	d.f("</g>\n")
}

// podsAxis draws the pods of each slot on their own scale, on the right.
func (d *drawing) podsAxis(top, bottom float64) {
	most := 0.0
	for _, p := range append(slices.Clone(d.m.canary), d.m.stable...) {
		most = max(most, p.v)
	}
	if most == 0 {
		return
	}
	step := niceStep(most / 4)
	ceil := step * math.Ceil(most/step)
	yp := func(v float64) float64 { return bottom - (bottom-top-10)*v/ceil }
	for v := 0.0; v <= ceil+step/2; v += step {
		text := formatValue(v)
		if v+step > ceil+step/2 {
			text += " pods"
		}
		d.f(`<text x="%s" y="%s" font-size="10" fill="%s">%s</text>`+"\n", num(d.right+6), num(yp(v)+3), colStable, text)
	}
	d.f(`<path class="pods canary" d="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="5 2"/>`+"\n",
		d.stepPath(d.m.canary, d.m.podsEnd, yp), colCanary)
	d.f(`<path class="pods stable" d="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="2 2"/>`+"\n",
		d.stepPath(d.m.stable, d.m.podsEnd, yp), colStable)
}

// stepPath is line as steps: level from each point to the next, then to
// end.
func (d *drawing) stepPath(line []point, end time.Time, y func(float64) float64) string {
	if len(line) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "M%s %s", num(d.x(line[0].t)), num(y(line[0].v)))
	for _, p := range line[1:] {
		fmt.Fprintf(&b, " H%s V%s", num(d.x(p.t)), num(y(p.v)))
	}
	fmt.Fprintf(&b, " H%s", num(d.x(end)))
	return b.String()
}

// metricPanel draws the measurements of one metric, against its limits.
func (d *drawing) metricPanel(i int, p *panel) {
	top := d.plotTop + trafficH + float64(i)*(panelGap+panelH) + panelGap
	bottom := top + panelH
	lo, hi := p.valueRange()
	y := func(v float64) float64 { return bottom - 6 - (panelH-12)*(v-lo)/(hi-lo) }
	d.f(`<g class="panel" data-metric="%s">`+"\n", esc(p.name))
	title := p.name
	for _, l := range p.limits {
		title += " · limit " + l.text
	}
	d.f(`<text class="panel-title" x="%s" y="%s" font-weight="bold">%s</text>`+"\n", num(d.left+4), num(top-6), esc(clipText(title, 120)))
	d.f(`<rect class="frame" x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#bbbbbb"/>`+"\n",
		num(d.left), num(top), num(d.right-d.left), num(panelH))
	for _, t := range p.ticks(lo, y) {
		d.f(`<text x="%s" y="%s" text-anchor="end" font-size="10" fill="%s">%s</text>`+"\n", num(d.left-6), num(y(t.v)+3), t.colour,
			formatValue(t.v))
	}
	for _, l := range p.limits {
		d.line("limit", d.left, y(l.v), d.right, y(l.v), `stroke="`+colLimit+`" stroke-dasharray="4 3"`)
	}
	for _, m := range p.points {
		colour := verdictColour[m.verdict]
		if colour == "" {
			colour = colStable
		}
		desc := esc(fmt.Sprintf("%s %s: %s", offset(m.t.Sub(d.m.start)), orDash(m.verdict), valueText(m)))
		if !m.numeric {
			d.f(`<circle class="measurement no-value" cx="%s" cy="%s" r="3" fill="none" stroke="%s"><title>%s</title></circle>`+"\n",
				num(d.x(m.t)), num(bottom-6), colour, desc)
			continue
		}
		d.f(`<circle class="measurement %s" cx="%s" cy="%s" r="3.5" fill="%s"><title>%s</title></circle>`+"\n",
			strings.ToLower(m.verdict), num(d.x(m.t)), num(y(m.v)), colour, desc)
	}
	d.f("</g>\n")
}

// tick is a value labelled on a panel's axis.
type tick struct {
	v      float64
	colour string
}

// ticks are the values a panel labels: the bottom of its range, its
// limits and its highest value, each at least 10 pixels from the others.
func (p *panel) ticks(lo float64, y func(float64) float64) []tick {
	out := []tick{{lo, colText}}
	add := func(v float64, colour string) {
		for _, t := range out {
			if d := y(t.v) - y(v); d < 10 && d > -10 {
				return
			}
		}
		out = append(out, tick{v, colour})
	}
	for _, l := range p.limits {
		add(l.v, colLimit)
	}
	top, ok := 0.0, false
	for _, m := range p.points {
		if m.numeric && (!ok || m.v > top) {
			top, ok = m.v, true
		}
	}
	if ok {
		add(top, colText)
	}
	return out
}

// valueRange is the range a panel shows: its values and limits, and zero.
func (p *panel) valueRange() (float64, float64) {
	lo, hi := 0.0, 0.0
	for _, m := range p.points {
		if m.numeric {
			lo, hi = min(lo, m.v), max(hi, m.v)
		}
	}
	for _, l := range p.limits {
		lo, hi = min(lo, l.v), max(hi, l.v)
	}
	if hi == lo {
		hi = lo + 1
	}
	return lo, hi + (hi-lo)*0.15
}

func valueText(m measured) string {
	if !m.numeric {
		return "no value"
	}
	return formatValue(m.v)
}

// formatValue writes v with up to three significant digits.
func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

// niceStep is the smallest of 1, 2 or 5 times a power of ten at least v.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

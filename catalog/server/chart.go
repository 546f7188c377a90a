package server

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"

	"github.com/cssc-go/cssc/catalog"
)

// severityOrder is the stacking order of a findings chart, bottom up.
var severityOrder = []string{catalog.SeverityCritical, catalog.SeverityHigh, catalog.SeverityMedium, catalog.SeverityLow, catalog.SeverityUnknown}

func (p SeverityPoint) count(sev string) int {
	switch sev {
	case catalog.SeverityCritical:
		return p.Critical
	case catalog.SeverityHigh:
		return p.High
	case catalog.SeverityMedium:
		return p.Medium
	case catalog.SeverityLow:
		return p.Low
	}
	return p.Unknown
}

// niceStep returns a round tick step (1, 2 or 5 times a power of ten) that
// divides max into about n intervals.
func niceStep(max float64, n int) float64 {
	if max <= 0 {
		return 1
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return math.Max(1, m*mag)
		}
	}
	return math.Max(1, 10*mag)
}

// historyChart draws findings by severity over time as stacked bars, one
// per report time. The SVG scales to its container (CSS sets the width).
func historyChart(points []SeverityPoint) template.HTML {
	const (
		w, hgt                = 720.0, 240.0
		left, right, top, bot = 44.0, 12.0, 14.0, 40.0
	)
	plotW, plotH := w-left-right, hgt-top-bot
	maxTotal := 0
	for _, p := range points {
		maxTotal = max(maxTotal, p.Total())
	}
	step := niceStep(float64(maxTotal), 4)
	yMax := math.Max(step, math.Ceil(float64(maxTotal)/step)*step)
	y := func(v float64) float64 { return top + plotH - v/yMax*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="chart-title"><title id="chart-title">Findings by severity at each report</title>`, w, hgt)
	for v := 0.0; v <= yMax+step/2; v += step {
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, left, w-right, y(v), y(v))
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="end">%.0f</text>`, left-6, y(v)+4, v)
	}
	n := len(points)
	slot := plotW / float64(max(n, 1))
	bw := math.Min(slot*0.62, 56)
	every := max(1, int(math.Ceil(float64(n)/9)))
	for i, p := range points {
		x := left + slot*float64(i) + (slot-bw)/2
		base := 0.0
		for _, sev := range severityOrder {
			c := p.count(sev)
			if c == 0 {
				continue
			}
			y0, y1 := y(base), y(base+float64(c))
			fmt.Fprintf(&b, `<rect class="sev-%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d %s</title></rect>`,
				sev, x, y1, bw, math.Max(y0-y1, 0.5), html.EscapeString(p.Time.Format("2006-01-02 15:04")), c, sev)
			base += float64(c)
		}
		if p.Total() == 0 {
			fmt.Fprintf(&b, `<rect class="sev-none" x="%.1f" y="%.1f" width="%.1f" height="2"><title>%s: no findings</title></rect>`,
				x, y(0)-2, bw, html.EscapeString(p.Time.Format("2006-01-02 15:04")))
		}
		fmt.Fprintf(&b, `<text class="total" x="%.1f" y="%.1f" text-anchor="middle">%d</text>`, x+bw/2, y(float64(p.Total()))-4, p.Total())
		if i%every == 0 || i == n-1 {
			fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x+bw/2, hgt-bot+16, html.EscapeString(p.Time.Format("Jan 2")))
			if p.Database != "" {
				fmt.Fprintf(&b, `<text class="tick faint" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x+bw/2, hgt-bot+30, html.EscapeString(truncate(p.Database, 18)))
			}
		}
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, left, w-right, y(0), y(0))
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every dynamic string above is escaped
}

// SpreadSegment is one severity of the catalog's severity spread.
type SpreadSegment struct {
	Severity string
	Count    int
}

// spreadChart draws how many images reach each worst severity as one
// horizontal stacked bar.
func spreadChart(segs []SpreadSegment) template.HTML {
	const w, hgt = 300.0, 14.0
	total := 0
	for _, s := range segs {
		total += s.Count
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spread" viewBox="0 0 %.0f %.0f" preserveAspectRatio="none" role="img" aria-label="Images by worst finding">`, w, hgt)
	if total == 0 {
		fmt.Fprintf(&b, `<rect class="sev-none" x="0" y="0" width="%.0f" height="%.0f"/>`, w, hgt)
	}
	x := 0.0
	for _, s := range segs {
		if s.Count == 0 {
			continue
		}
		sw := w * float64(s.Count) / float64(total)
		fmt.Fprintf(&b, `<rect class="sev-%s" x="%.2f" y="0" width="%.2f" height="%.0f"><title>%s: %d</title></rect>`,
			html.EscapeString(s.Severity), x, sw, hgt, html.EscapeString(s.Severity), s.Count)
		x += sw
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every dynamic string above is escaped
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

package main

import (
	"errors"
	"fmt"
	"image/color"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

// series is one set of bars, one bar per region.
type series struct {
	name   string
	values []float64
}

// plots draws the report's figures as PNGs named base-*.png and returns
// their file names (relative to base's folder). A plot whose data is
// missing (a failed run) is skipped.
func (r *AllReport) plots(base string) ([]string, error) {
	var names []string
	var errs []error
	regionsWith := func(ok func(RegionReport) bool) (labels []string, idx []int) {
		for i, g := range r.Regions {
			if ok(g) {
				labels = append(labels, fmt.Sprintf("%s (%.0f ms)", g.Region, g.DelayMs))
				idx = append(idx, i)
			}
		}
		return labels, idx
	}
	pick := func(idx []int, f func(RegionReport) float64) []float64 {
		out := make([]float64, len(idx))
		for k, i := range idx {
			out[k] = f(r.Regions[i])
		}
		return out
	}
	save := func(suffix string, p *plot.Plot, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("plot %s: %w", suffix, err))
			return
		}
		file := base + suffix
		if err := p.Save(16*vg.Centimeter, 10*vg.Centimeter, file); err != nil {
			errs = append(errs, fmt.Errorf("plot %s: %w", suffix, err))
			return
		}
		names = append(names, filepath.Base(file))
	}

	if labels, idx := regionsWith(func(g RegionReport) bool { return g.Read.Requests > 0 }); len(idx) > 0 {
		p, err := barPlot(fmt.Sprintf("Warm-cache point reads per region (wrk -c%d, %s each)", r.Settings["connections"], r.Settings["duration"]),
			"req/s", labels, "%.0f", []series{{"region's node", pick(idx, func(g RegionReport) float64 { return g.Read.ReqPerS })}})
		if err == nil {
			err = refLines(p, len(labels), []refLine{
				{fmt.Sprintf("bare net/http ceiling, mean of %d runs (%.0f)", len(r.Bare), r.BareMean), r.BareMean, 0},
				{fmt.Sprintf("bare, lowest and highest run (%.0f, %.0f)", minReq(r.Bare), maxReq(r.Bare)), minReq(r.Bare), 1},
				{"", maxReq(r.Bare), 1}})
		}
		save("-reads.png", p, err)
		// The bare runs' mean latency goes last, as a reference.
		p50s, p99s := pick(idx, func(g RegionReport) float64 { return g.Read.P50Ms }), pick(idx, func(g RegionReport) float64 { return g.Read.P99Ms })
		if len(r.Bare) > 0 {
			var b50, b99 float64
			for _, b := range r.Bare {
				b50, b99 = b50+b.P50Ms/float64(len(r.Bare)), b99+b.P99Ms/float64(len(r.Bare))
			}
			labels = append(labels, "bare (mean)")
			p50s, p99s = append(p50s, b50), append(p99s, b99)
		}
		p, err = barPlot("Point-read latency per region (warm cache, under full load)", "ms", labels, "%.2f",
			[]series{{"p50", p50s}, {"p99", p99s}})
		save("-latency.png", p, err)
	}
	if labels, idx := regionsWith(func(g RegionReport) bool { return g.Lag != nil }); len(idx) > 0 {
		p, err := barPlot(fmt.Sprintf("Replication lag per region (%d writes/s, write ack to TXID seen)", writesPerSecond), "ms", labels, "%.0f", []series{
			{"p50", pick(idx, func(g RegionReport) float64 { return g.Lag.P50Ms })},
			{"p90", pick(idx, func(g RegionReport) float64 { return g.Lag.P90Ms })},
			{"max", pick(idx, func(g RegionReport) float64 { return g.Lag.MaxMs })}})
		save("-lag.png", p, err)
	}
	if labels, idx := regionsWith(func(g RegionReport) bool { return g.Unpublish != nil }); len(idx) > 0 {
		p, err := barPlot(fmt.Sprintf("Unpublish ack to the region's first 404 (%d trials)", visTrials), "ms", labels, "%.0f", []series{
			{"median", pick(idx, func(g RegionReport) float64 { return g.Unpublish.MedianMs })},
			{"max", pick(idx, func(g RegionReport) float64 { return g.Unpublish.MaxMs })}})
		save("-unpublish.png", p, err)
	}
	return names, errors.Join(errs...)
}

// barPlot draws grouped bars, one group per label, with each bar's value
// written above it.
func barPlot(title, ylabel string, labels []string, format string, ss []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = vg.Points(8)
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Legend.Left = true
	width := vg.Points(min(60, 105/float64(len(ss))))
	top := 0.0
	for k, s := range ss {
		bars, err := plotter.NewBarChart(plotter.Values(s.values), width)
		if err != nil {
			return nil, err
		}
		bars.Color = plotutil.Color(k)
		bars.LineStyle.Width = 0
		bars.Offset = width * vg.Length(float64(k)-float64(len(ss)-1)/2)
		p.Add(bars)
		if len(ss) > 1 {
			p.Legend.Add(s.name, bars)
		}
		xy := plotter.XYLabels{XYs: make(plotter.XYs, len(s.values)), Labels: make([]string, len(s.values))}
		for i, v := range s.values {
			xy.XYs[i] = plotter.XY{X: float64(i), Y: v}
			xy.Labels[i] = fmt.Sprintf(format, v)
			top = max(top, v)
		}
		l, err := plotter.NewLabels(xy)
		if err != nil {
			return nil, err
		}
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign = text.XCenter
			l.TextStyle[i].YAlign = text.YBottom
		}
		l.Offset = vg.Point{X: bars.Offset, Y: vg.Points(2)}
		p.Add(l)
	}
	p.NominalX(labels...)
	p.Y.Min, p.Y.Max = 0, max(top*1.3, 1)
	p.Y.Tick.Marker = shortTicks{}
	return p, nil
}

// shortTicks are the default ticks labelled without trailing zeros
// (75000, 2.5, not 75000.00, 2.50).
type shortTicks struct{}

func (shortTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

// refLine is a horizontal reference line across every group.
type refLine struct {
	name  string
	y     float64
	style int
}

func refLines(p *plot.Plot, groups int, ls []refLine) error {
	for _, r := range ls {
		if r.y <= 0 {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: r.y}, {X: float64(groups) - 0.5, Y: r.y}})
		if err != nil {
			return err
		}
		l.LineStyle.Width = vg.Points(1.5)
		l.LineStyle.Color = color.RGBA{R: 200, A: 255}
		if r.style == 1 {
			l.LineStyle.Color = color.RGBA{R: 120, G: 120, B: 120, A: 255}
			l.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		if r.name != "" {
			p.Legend.Add(r.name, l)
		}
		p.Y.Max = max(p.Y.Max, r.y*1.25)
	}
	return nil
}

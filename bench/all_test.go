package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAllReportWrite renders a made-up report: JSON, Markdown and the four
// PNGs, linked relatively from the Markdown. No cluster needed.
func TestAllReportWrite(t *testing.T) {
	dir := t.TempDir()
	if d := os.Getenv("BENCH_PLOT_DIR"); d != "" {
		dir = d // to look at the plots
	}
	prop := func(med, mx float64) *Propagation {
		return &Propagation{Trials: 10, Ms: []float64{med, mx}, MedianMs: med, MaxMs: mx}
	}
	r := &AllReport{reportHead: reportHead{Scenario: "all", Date: "2000-01-01T00-00-00Z", Machine: "test",
		Settings: map[string]any{"duration": "5s", "connections": 16}},
		Bare: []Result{{Name: "bare net/http 200 B (run 1)", ReqPerS: 52000, P50Ms: 0.2, P99Ms: 4, Requests: 260000},
			{Name: "bare net/http 200 B (run 2)", ReqPerS: 45000, P50Ms: 0.25, P99Ms: 5, Requests: 225000}},
		BareMean: 48500,
		Regions: []RegionReport{
			{Region: "lhr", DelayMs: 0, Read: Result{ReqPerS: 41000, P50Ms: 0.3, P99Ms: 2.1, Requests: 1}, Lag: &Lag{P50Ms: 0, P90Ms: 1, MaxMs: 3}, Unpublish: prop(2, 5)},
			{Region: "sjc", DelayMs: 40, Read: Result{ReqPerS: 40000, P50Ms: 0.31, P99Ms: 2.3, Requests: 1}, Lag: &Lag{P50Ms: 45, P90Ms: 52, MaxMs: 80}, Unpublish: prop(44, 60)},
			{Region: "syd", DelayMs: 150, Read: Result{ReqPerS: 39000, P50Ms: 0.33, P99Ms: 2.6, Requests: 1}, Lag: &Lag{P50Ms: 155, P90Ms: 170, MaxMs: 230}, Unpublish: prop(152, 190)},
		}}
	if err := r.write(dir); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, r.Date+".md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-reads.png", "-latency.png", "-lag.png", "-unpublish.png"} {
		name := r.Date + suffix
		if !strings.Contains(string(md), "]("+name+")") {
			t.Errorf("the Markdown does not link %s", name)
		}
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, r.Date+".json")); err != nil {
		t.Error(err)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPoolCache pools two runs' rounds: every ratio is taken within its
// round, across every round of every run.
func TestPoolCache(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, rep Report) string {
		t.Helper()
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(hot ...float64) Report {
		rep := Report{reportHead: reportHead{Scenario: "cache"}}
		for i, h := range hot {
			for _, r := range []Result{
				{Name: "bare net/http 200 B", ReqPerS: 1000},
				{Name: "hot point read (cache)", ReqPerS: h},
				{Name: "hot + 20 writes/s to bench.other", ReqPerS: h / 2},
				{Name: "bare + 20 writes/s to bench.other", ReqPerS: 900},
				{Name: "bare + a cached read's headers, in the replica process", ReqPerS: 1000},
			} {
				r.Name = fmt.Sprintf("%s, round %d", r.Name, i+1)
				rep.Results = append(rep.Results, r)
			}
		}
		rep.Results = append(rep.Results, Result{Name: "hot + 20 writes/s to bench.items", ReqPerS: 1})
		return rep
	}
	files := []string{write("a-cache.json", run(700, 800, 900)), write("b-cache.json", run(800, 1000))}
	var out bytes.Buffer
	if err := poolCache(&out, files); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"2 runs",
		"| hot / bare (goal >= 0.8) | 5 | 0.800 | 0.840 |",
		"| hot + writes to bench.other / hot | 5 | 0.500 | 0.500 | 0.500-0.500 |",
		"| control: bare + writes / bare | 5 | 0.900 | 0.900 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("pooled report lacks %q:\n%s", want, out.String())
		}
	}

	if err := poolCache(&out, nil); err == nil {
		t.Error("no files: no error")
	}
	other := write("reads.json", Report{reportHead: reportHead{Scenario: "reads"}})
	if err := poolCache(&out, []string{other}); err == nil || !strings.Contains(err.Error(), "not cache") {
		t.Errorf("a reads report: %v", err)
	}
	if err := poolCache(&out, []string{filepath.Join(dir, "missing.json")}); err == nil {
		t.Error("missing file: no error")
	}
}

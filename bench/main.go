// Command bench runs tablecast's benchmark scenarios against a real local
// cluster (real LiteFS, real FUSE) and writes bench/results/<date>-<scenario>.json
// and .md. Figures are reported as ratios measured in one run: the machines
// are shared and noisy, absolute numbers drift.
//
//	go run ./bench -scenario reads
//	go run ./bench -scenario cache
//	go run ./bench -scenario failover
//	go run -tags sqlite_fts5 ./bench -scenario search   # _search over 100,000 rows (FTS5)
//	go run ./bench -scenario insert [-rows N] [-batches 1000,5000]
//	go run ./bench -scenario writes   # single-row write transactions/s through the API
//	go run ./bench -scenario facets  # DATASETTE_PYPATH=… adds Datasette 0.65
//	go run ./bench -scenario all   # one report: regions, lag, unpublish, failover, plots
//	go run ./bench -scenario soak [-duration 10m] [-cgroup-mb 512]
//	go run ./bench -scenario import [-big-mb 1024]   # import of a SQLite file
//	go run ./bench -pool bench/results/*-cache.json   # cache runs' rounds pooled
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Options shared by the scenarios.
type Options struct {
	Duration    time.Duration
	Connections int
	Threads     int
	OutDir      string
	Trials      int  // failover: kills of the primary
	BigMB       int  // failover: size of the database a new replica starts on
	Keep        bool // failover: keep the cluster's folder (logs, data)
	CgroupMB    int  // soak: run one replica under a cgroup v1 memory limit of this many MiB (0: off)
	// WrkTimeout, when set, is wrk's --timeout (its default is 2 s: a
	// slower answer counts as an error).
	WrkTimeout time.Duration
	// Rows and InsertBatches: scenario insert's CSV file and batch sizes.
	Rows          int
	InsertBatches []int
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	scenario := fs.String("scenario", "reads", "scenario to run: reads, cache, failover, pages, ryw, search, insert, writes, import, facets, all, soak (-duration: 10m unless set)")
	var o Options
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "load time per target (scenario all: 5s unless set)")
	fs.IntVar(&o.Connections, "connections", 16, "concurrent connections (wrk -c)")
	fs.IntVar(&o.Threads, "threads", 2, "load threads (wrk -t)")
	fs.StringVar(&o.OutDir, "out", "bench/results", "results folder")
	fs.IntVar(&o.Trials, "trials", 10, "failover: how many times the primary is killed (scenario all: 3 unless set)")
	fs.IntVar(&o.BigMB, "big-mb", 100, "failover: MB loaded before a new replica starts; import: MB of the file (1024 unless set)")
	fs.BoolVar(&o.Keep, "keep", false, "failover: keep the cluster's folder (nodes' logs and data) after the run")
	fs.IntVar(&o.CgroupMB, "cgroup-mb", 512, "soak: run one replica in a cgroup v1 memory cgroup of this many MiB (0: off)")
	fs.IntVar(&o.Rows, "rows", DefaultInsertRows, "insert: rows of the CSV file")
	batches := fs.String("batches", "1000", "insert: comma-separated batch sizes (-batch-size) to time")
	pool := fs.Bool("pool", false, "pool the rounds of earlier cache runs: go run ./bench -pool bench/results/*-cache.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pool {
		return poolCache(os.Stdout, fs.Args())
	}
	for _, b := range strings.Split(*batches, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(b))
		if err != nil || n < 1 {
			return fmt.Errorf("-batches: %q is not a batch size", b)
		}
		o.InsertBatches = append(o.InsertBatches, n)
	}
	// The bare ceiling and the plain-file handler run in this process: they
	// get the nodes' collector settings, as bare gets the API server's
	// settings (not the nodes' extra P: that is for cgo calls on FUSE).
	if gc := tablecast.TuneGC(tablecast.PlannedMemory(replica.DefaultCacheBytes)); gc != "" {
		fmt.Println("this process (bare, plain file) runs with the nodes' collector settings:", gc)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch *scenario {
	case "soak":
		if !set["duration"] {
			o.Duration = 10 * time.Minute
		}
		return soak(ctx, o)
	case "import":
		if !set["big-mb"] {
			o.BigMB = 1024
		}
	case "all":
		// Shorter defaults keep the whole run within a few minutes.
		if !set["duration"] {
			o.Duration = allDuration
		}
		if !set["trials"] {
			o.Trials = allTrials
		}
		return runAll(ctx, o)
	}
	return scenarioReport(ctx, *scenario, o)
}

// soak runs scenario soak, writes its report and fails if it found a
// problem.
func soak(ctx context.Context, o Options) error {
	r, err := runSoak(ctx, o)
	if err != nil {
		return err
	}
	if err := r.Write(o.OutDir); err != nil {
		return err
	}
	if len(r.Failed) > 0 {
		return fmt.Errorf("soak found %d problems: %s", len(r.Failed), strings.Join(r.Failed, "; "))
	}
	return nil
}

// scenarioReport runs one of the scenarios with a Report and writes it.
func scenarioReport(ctx context.Context, scenario string, o Options) error {
	var report *Report
	var err error
	switch scenario {
	case "reads":
		report, err = runReads(ctx, o)
	case "cache":
		report, err = runCache(ctx, o)
	case "failover":
		report, err = runFailover(ctx, o)
	case "pages":
		report, err = runPages(ctx, o)
	case "ryw":
		report, err = runReadYourWrites(ctx, o)
	case "search":
		report, err = runSearch(ctx, o)
	case "insert":
		report, err = runInsert(ctx, o)
	case "writes":
		report, err = runWrites(ctx, o)
	case "import":
		report, err = runImport(ctx, o)
	case "facets":
		report, err = runFacets(ctx, o)
	default:
		return fmt.Errorf("unknown scenario %q", scenario)
	}
	if err != nil {
		return err
	}
	return report.Write(o.OutDir)
}

// Report is one scenario's results.
type Report struct {
	reportHead
	Results []Result           `json:"results"`
	Ratios  map[string]float64 `json:"ratios"`
	// Lag is replication lag measured under load (scenario cache).
	Lag []Lag `json:"lag,omitempty"`
	// Failover and CatchUp are scenario failover's figures.
	Failover *FailoverReport `json:"failover,omitempty"`
	CatchUp  *CatchUp        `json:"catch_up,omitempty"`
	Notes    []string        `json:"notes"`
}

// Result is one load target's figures.
type Result struct {
	Name     string  `json:"name"`
	URL      string  `json:"url"`
	ReqPerS  float64 `json:"req_per_s"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
}

// Write saves the report as JSON and Markdown.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return saveReport(filepath.Join(dir, r.Date+"-"+r.Scenario), r, r.Markdown())
}

// reportHead is what every report starts with: which scenario, when, on
// what machine, with which settings.
type reportHead struct {
	Scenario string         `json:"scenario"`
	Date     string         `json:"date"`
	Machine  string         `json:"machine"`
	Settings map[string]any `json:"settings"`
}

// newHead is the head of a report of scenario starting now.
func newHead(scenario string, settings map[string]any) reportHead {
	return reportHead{Scenario: scenario, Date: time.Now().UTC().Format("2006-01-02T15-04-05Z"), Machine: machine(), Settings: settings}
}

// saveReport writes v as base.json and md as base.md, and prints md.
func saveReport(base string, v any, md string) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", b, 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	if err := os.WriteFile(base+".md", []byte(md), 0o644); err != nil {
		return err
	}
	slog.Info("wrote results", "json", base+".json", "md", base+".md")
	return nil
}

// Markdown renders the report as a table.
func (r *Report) Markdown() string {
	s := fmt.Sprintf("# %s (%s)\n\n%s\n\nSettings: %v\n", r.Scenario, r.Date, r.Machine, r.Settings)
	if len(r.Results) > 0 {
		s += "\n| target | req/s | p50 ms | p99 ms | requests | errors |\n|---|---|---|---|---|---|\n"
	}
	for _, x := range r.Results {
		s += fmt.Sprintf("| %s | %.0f | %.3f | %.3f | %d | %d |\n", x.Name, x.ReqPerS, x.P50Ms, x.P99Ms, x.Requests, x.Errors)
	}
	if len(r.Lag) > 0 {
		s += "\n| replication lag under | writes | p50 ms | p90 ms | max ms | unseen | write errors | seen before ack | wait answers |\n|---|---|---|---|---|---|---|---|---|\n"
		for _, l := range r.Lag {
			s += fmt.Sprintf("| %s | %d | %.1f | %.1f | %.1f | %d | %d | %d | %d |\n",
				l.Name, l.Writes, l.P50Ms, l.P90Ms, l.MaxMs, l.Unseen, l.WriteErrors, l.SeenBeforeAck, l.Waits)
		}
	}
	s += r.failoverMarkdown()
	if len(r.Ratios) > 0 {
		s += "\n| ratio | value |\n|---|---|\n"
	}
	for _, k := range sortedKeys(r.Ratios) {
		s += fmt.Sprintf("| %s | %.2f |\n", k, r.Ratios[k])
	}
	for _, n := range r.Notes {
		s += "\n- " + n
	}
	return s + "\n"
}

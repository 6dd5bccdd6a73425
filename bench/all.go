package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

const (
	// allDuration and allTrials are scenario all's defaults for -duration
	// and -trials.
	allDuration = 5 * time.Second
	allTrials   = 3
	// lagWindow is how long the primary takes writes while every region's
	// lag is watched.
	lagWindow = 10 * time.Second
	// visTrials unpublish/publish cycles of bench.vis are timed.
	visTrials = 10
	// visTimeout bounds the wait for one region to show one change.
	visTimeout = 10 * time.Second
)

// allRegions are scenario all's regions, nearest first: the primary's own
// (lhr-1 serves reads too) and two replicas behind `tablecast dev -delay`.
var allRegions = []struct {
	region string
	delay  time.Duration
}{{"lhr", 0}, {"sjc", 40 * time.Millisecond}, {"syd", 150 * time.Millisecond}}

// AllReport is scenario all's results: one cluster with simulated
// distances for the per-region figures, one raft cluster for failover.
type AllReport struct {
	reportHead
	// Bare is the HTTP ceiling, measured before the first region's reads
	// and again after each region's (the shared cores drift); BareMean is
	// their mean.
	Bare     []Result        `json:"bare_runs"`
	BareMean float64         `json:"bare_mean_req_per_s"`
	Regions  []RegionReport  `json:"regions"`
	Failover *FailoverReport `json:"failover"`
	Plots    []string        `json:"plots"`
	Notes    []string        `json:"notes"`
	// Error is set when the run failed part way: the figures so far are kept.
	Error   string  `json:"error,omitempty"`
	Seconds float64 `json:"seconds"`
}

// RegionReport is one region's figures.
type RegionReport struct {
	Region  string  `json:"region"`
	Node    string  `json:"node"`
	Role    string  `json:"role"`
	DelayMs float64 `json:"delay_ms"`
	// Read is the warm-cache point-read load on the node's API URL;
	// ReadVsBare its req/s over the mean of the bare runs just before and
	// just after it.
	Read         Result  `json:"read"`
	ReadVsBare   float64 `json:"read_vs_bare"`
	CacheHitRate float64 `json:"cache_hit_rate"`
	Lag          *Lag    `json:"lag,omitempty"`
	// Unpublish: the primary's ack of an unpublish to this node's first
	// 404; Publish: the ack of the publish back to its first 200.
	Unpublish *Propagation `json:"unpublish,omitempty"`
	Publish   *Propagation `json:"publish,omitempty"`
}

// Propagation is the time a visibility change takes to show on one node.
type Propagation struct {
	Trials   int       `json:"trials"`
	Ms       []float64 `json:"ms"`
	MedianMs float64   `json:"median_ms"`
	MaxMs    float64   `json:"max_ms"`
	// Timeouts never showed within visTimeout (not in Ms).
	Timeouts int `json:"timeouts"`
}

// allRun is one run of scenario all: its report, and the cluster and nodes
// of the per-region steps.
type allRun struct {
	o     Options
	r     *AllReport
	start time.Time
	nodes []devcluster.ClusterNode // one per allRegions
}

// runAll runs every per-region measurement on one cluster started with
// simulated distances, then failover trials on a raft cluster, and writes
// <out>/<date>.{json,md} with PNG plots beside them. What was measured is
// written even when a later step fails.
func runAll(ctx context.Context, o Options) (err error) {
	a := &allRun{o: o, start: time.Now(), r: &AllReport{reportHead: newHead("all", map[string]any{"duration": o.Duration.String(), "connections": o.Connections, "threads": o.Threads,
		"rows": benchRows, "writes_per_s": writesPerSecond, "lag_window": lagWindow.String(),
		"visibility_trials": visTrials, "failover_trials": o.Trials, "loadavg_start": loadavg(), "tree": treeState()})}}
	defer func() { err = a.finish(err) }()
	if err := a.regions(ctx); err != nil {
		return err
	}
	fmt.Println("cluster stopped")
	if err := a.failover(ctx); err != nil {
		return err
	}
	a.r.Notes = append(a.r.Notes, allNotes(o, a.r)...)
	return nil
}

// step announces step n of 5.
func (a *allRun) step(n int, what string) {
	fmt.Printf("\n[%d/5 %3.0fs] %s\n", n, time.Since(a.start).Seconds(), what)
}

// finish writes what was measured, err included, and returns err with any
// error of the writing.
func (a *allRun) finish(err error) error {
	if err != nil {
		a.r.Error = err.Error()
	}
	if len(a.r.Regions) == 0 && a.r.Failover == nil {
		return err // nothing measured
	}
	a.r.Settings["loadavg_end"] = loadavg()
	a.r.Seconds = time.Since(a.start).Seconds()
	return errors.Join(err, a.r.write(a.o.OutDir))
}

// allDelays is each replica region's simulated distance.
func allDelays() map[string]time.Duration {
	d := map[string]time.Duration{}
	for _, g := range allRegions[1:] {
		d[g.region] = g.delay
	}
	return d
}

// regions runs steps 1 to 4 on a cluster with simulated distances, and
// stops it (the cores are shared with the next cluster).
func (a *allRun) regions(ctx context.Context) (err error) {
	var delays []string
	for _, g := range allRegions[1:] {
		delays = append(delays, fmt.Sprintf("%s=%s", g.region, g.delay))
	}
	a.step(1, "starting a cluster with -delay "+strings.Join(delays, ",")+" (static primary lhr-1, replicas sjc-1 and syd-1; real LiteFS and FUSE)…")
	c, err := startCluster(ctx, func(o *devcluster.Options) { o.Delays = allDelays() })
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			c.Keep = true // keep the nodes' logs of a failed run
		}
		if serr := c.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	if err := a.setup(ctx, c); err != nil {
		return err
	}
	a.step(2, fmt.Sprintf("reads per region, warm cache: wrk -t%d -c%d, %s per target, keys random in [1, %d]", a.o.Threads, a.o.Connections, a.o.Duration, benchRows))
	if err := a.reads(ctx, c); err != nil {
		return err
	}
	a.step(3, fmt.Sprintf("replication lag per region: %d writes/s to bench.other on the primary for %s, every region's TXID watched by long-polling its /-/wait…", writesPerSecond, lagWindow))
	if err := a.lag(ctx, c); err != nil {
		return err
	}
	a.step(4, fmt.Sprintf("unpublish and publish again of bench.vis, %d times: the primary's ack to each region's first 404, then 200…", visTrials))
	return visibility(ctx, c, a.nodes, a.r.Regions)
}

// setup picks each region's node and loads the tables every step reads,
// until every node shows them.
func (a *allRun) setup(ctx context.Context, c *cluster) error {
	for _, g := range allRegions {
		n, ok := c.Node(g.region)
		if !ok {
			return fmt.Errorf("cluster.json has no node in %s", g.region)
		}
		a.nodes = append(a.nodes, n)
		a.r.Regions = append(a.r.Regions, RegionReport{Region: g.region, Node: n.Name, Role: n.Role, DelayMs: ms(g.delay)})
	}
	fmt.Printf("loading %d rows into bench.items, creating bench.other and bench.vis…\n", benchRows)
	for _, load := range []func(context.Context, *cluster) error{loadItems, createOther, createVis} {
		if err := load(ctx, c); err != nil {
			return err
		}
	}
	for _, n := range a.nodes {
		for _, p := range []string{fmt.Sprintf("/bench/items/%d.json", benchRows), "/bench/other.json", "/bench/vis.json"} {
			if err := waitOK(ctx, n.APIURL+p, 30*time.Second); err != nil {
				return err
			}
		}
	}
	return nil
}

// reads loads each region's node in turn, with the bare ceiling measured
// before the first and after each one.
func (a *allRun) reads(ctx context.Context, c *cluster) error {
	bare, stopBare, err := serveBare()
	if err != nil {
		return err
	}
	defer stopBare()
	if err := a.runBare(ctx, bare); err != nil {
		return err
	}
	for i, n := range a.nodes {
		if err := a.readRegion(ctx, c, &a.r.Regions[i], n); err != nil {
			return err
		}
		if err := a.runBare(ctx, bare); err != nil {
			return err
		}
		g, k := &a.r.Regions[i], len(a.r.Bare)
		g.ReadVsBare = 2 * g.Read.ReqPerS / (a.r.Bare[k-2].ReqPerS + a.r.Bare[k-1].ReqPerS)
		fmt.Printf("  %-36s %s: %.2f of the bare runs around it, cache hit rate %.4f\n", "", g.Region, g.ReadVsBare, g.CacheHitRate)
	}
	for _, b := range a.r.Bare {
		a.r.BareMean += b.ReqPerS / float64(len(a.r.Bare))
	}
	return nil
}

// runBare runs one load of the bare ceiling.
func (a *allRun) runBare(ctx context.Context, bare string) error {
	res, err := wrkRun(ctx, a.o, fmt.Sprintf("bare net/http 200 B (run %d)", len(a.r.Bare)+1), bare, allItems, ".json", benchRows)
	if err == nil {
		a.r.Bare = append(a.r.Bare, res)
	}
	return err
}

// allItems is the path prefix of the keys read.
const allItems = "/bench/items/"

// readRegion warms node n's cache and loads it, recording its req/s and
// cache hit rate in g.
func (a *allRun) readRegion(ctx context.Context, c *cluster, g *RegionReport, n devcluster.ClusterNode) error {
	if err := warm(ctx, n.APIURL+allItems, benchRows); err != nil {
		return err
	}
	h0, m0, err := cacheCounters(ctx, n.APIURL, c.Token)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s (%s, %.0f ms)", g.Region, n.Name, g.DelayMs)
	if g.Read, err = wrkRun(ctx, a.o, name, n.APIURL, allItems, ".json", benchRows); err != nil {
		return err
	}
	if h1, m1, err := cacheCounters(ctx, n.APIURL, c.Token); err == nil && h1+m1-h0-m0 > 0 {
		g.CacheHitRate = (h1 - h0) / (h1 + m1 - h0 - m0)
	}
	return nil
}

// lag measures every region's replication lag under the same writes.
func (a *allRun) lag(ctx context.Context, c *cluster) error {
	lags := measureLagOn(ctx, c, lagWindow, a.nodes)
	for i := range lags {
		if err := lags[i].check(); err != nil {
			return err
		}
		lags[i].Name = a.r.Regions[i].Region
		a.r.Regions[i].Lag = &lags[i]
	}
	return nil
}

// failover is step 5: failover trials on a raft cluster of its own.
func (a *allRun) failover(ctx context.Context) error {
	a.step(5, fmt.Sprintf("failover: %d SIGKILLs of the primary on a separate raft cluster (-delay clusters have a static primary)…", a.o.Trials))
	b, err := newFailoverBench(ctx, false)
	if err != nil {
		return err
	}
	fo, err := b.trials(ctx, a.o.Trials)
	cerr := b.cleanup(err != nil)
	if err = errors.Join(err, cerr); err != nil {
		return err
	}
	a.r.Failover = fo
	a.r.Notes = append(a.r.Notes, b.notes()...)
	return nil
}

// allNotes says how scenario all measured.
func allNotes(o Options, r *AllReport) []string {
	return []string{
		fmt.Sprintf("load: wrk -t%d -c%d for %s per target (shorter than the other scenarios' 10 s to keep the run within a few minutes); every target, bare included, through the same Lua random-key script over /…/bench/items/{key}.json", o.Threads, o.Connections, o.Duration),
		"distance: `tablecast dev -delay sjc=40ms,syd=150ms` puts each replica's LiteFS stream and forwarded requests behind a one-way delay proxy; wrk, the watchers and the pollers reach every node directly on loopback, as a visitor in that region would reach its nearby replica, so reads do not carry the delay, replication does",
		"lhr is the primary lhr-1 itself (0 ms): it serves public reads as the replicas do",
		fmt.Sprintf("reads: each node's cache is warmed by one GET of each of the %d keys before its run; the bare ceiling runs before the first region and after each one, and a region's \"of bare\" is its req/s over the mean of the bare runs just before and after it (bare runs: lowest %.0f, highest %.0f req/s)", benchRows, minReq(r.Bare), maxReq(r.Bare)),
		fmt.Sprintf("lag: %d writes/s upserted to bench.other on the primary for %s; per write, its ack to the first answer of the region's GET /-/wait (Bearer token; one watcher per region, always waiting for the TXID after the last it saw, so the node answers the moment LiteFS applies it) showing a TXID of bench at or past the write's; seen before the ack counts 0", writesPerSecond, lagWindow),
		fmt.Sprintf("unpublish: POST /bench/vis/-/unpublish on the primary; per region, from the ack to the first 404 of GET /bench/vis.json, polled every ~1 ms from the ack on; then POST …/-/publish and from its ack to the first 200 everywhere before the next trial; %d trials, a region that does not change within %s counts as a timeout", visTrials, visTimeout),
		"failover: a separate dev cluster with 3 raft candidates (lhr-1..3) and no simulated distance; new replica catch-up (scenario failover) is not run here",
		"the machine's cores are shared by the nodes, wrk and this process: absolute figures drift, the ratios and the ordering between regions are the point",
	}
}

// createVis creates and publishes bench.vis, the table unpublished and
// published again.
func createVis(ctx context.Context, c *cluster) error {
	if err := c.Post(ctx, "/bench/-/create", map[string]any{"table": "vis", "pk": "id",
		"columns": []map[string]string{{"name": "id", "type": "integer"}, {"name": "note", "type": "text"}}}); err != nil {
		return err
	}
	if err := c.Post(ctx, "/bench/vis/-/insert", map[string]any{"rows": []map[string]any{{"id": 1, "note": "visible"}}}); err != nil {
		return err
	}
	return c.Post(ctx, "/bench/vis/-/publish", map[string]any{})
}

// visibility unpublishes and publishes bench.vis visTrials times and
// records, per node, how long each change took to show there.
func visibility(ctx context.Context, c *cluster, nodes []devcluster.ClusterNode, regions []RegionReport) error {
	unpub := make([][]time.Duration, len(nodes))
	pub := make([][]time.Duration, len(nodes))
	utimeouts := make([]int, len(nodes))
	ptimeouts := make([]int, len(nodes))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	// change acks one visibility change on the primary and times its
	// arrival on every node at once.
	change := func(action string, want int, into [][]time.Duration, timeouts []int) error {
		if err := c.Post(ctx, "/bench/vis/-/"+action, map[string]any{}); err != nil {
			return err
		}
		ackAt := time.Now()
		var wg sync.WaitGroup
		got := make([]time.Duration, len(nodes))
		for i, n := range nodes {
			wg.Go(func() { got[i] = waitStatusSince(ctx, client, n.APIURL+"/bench/vis.json", want, ackAt, visTimeout) })
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return err
		}
		var line []string
		for i, d := range got {
			if d < 0 {
				timeouts[i]++
				line = append(line, regions[i].Region+" timeout")
				continue
			}
			into[i] = append(into[i], d)
			line = append(line, fmt.Sprintf("%s %.0f ms", regions[i].Region, ms(d)))
		}
		fmt.Printf(" %s: %s;", action, strings.Join(line, ", "))
		return nil
	}
	for t := 1; t <= visTrials; t++ {
		fmt.Printf("  trial %2d/%d:", t, visTrials)
		if err := change("unpublish", http.StatusNotFound, unpub, utimeouts); err != nil {
			return err
		}
		if err := change("publish", http.StatusOK, pub, ptimeouts); err != nil {
			return err
		}
		fmt.Println()
	}
	for i := range regions {
		regions[i].Unpublish = propagation(unpub[i], utimeouts[i])
		regions[i].Publish = propagation(pub[i], ptimeouts[i])
		fmt.Printf("  %-4s unpublish median %.0f ms max %.0f ms (%d timeouts); publish median %.0f ms max %.0f ms (%d timeouts)\n",
			regions[i].Region, regions[i].Unpublish.MedianMs, regions[i].Unpublish.MaxMs, utimeouts[i],
			regions[i].Publish.MedianMs, regions[i].Publish.MaxMs, ptimeouts[i])
	}
	return nil
}

func propagation(ds []time.Duration, timeouts int) *Propagation {
	p := &Propagation{Trials: len(ds) + timeouts, MedianMs: medianMs(ds), MaxMs: maxMs(ds), Timeouts: timeouts, Ms: []float64{}}
	for _, d := range ds {
		p.Ms = append(p.Ms, ms(d))
	}
	return p
}

// waitStatusSince polls url every ~1 ms until it answers want and returns
// the time from since to that answer, or -1 after timeout.
func waitStatusSince(ctx context.Context, client *http.Client, url string, want int, since time.Time, timeout time.Duration) time.Duration {
	for time.Since(since) < timeout {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return -1
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return max(time.Since(since), 0)
			}
		}
		select {
		case <-ctx.Done():
			return -1
		case <-time.After(time.Millisecond):
		}
	}
	return -1
}

// write saves the report as <dir>/<date>.json and .md, with the plots.
func (r *AllReport) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(dir, r.Date)
	plots, perr := r.plots(base)
	r.Plots = plots
	fmt.Println()
	if err := saveReport(base, r, r.Markdown()); err != nil {
		return err
	}
	fmt.Printf("and %d plots beside them\n", len(plots))
	return perr
}

// Markdown renders the report with its plots.
func (r *AllReport) Markdown() string {
	var s strings.Builder
	fmt.Fprintf(&s, "# tablecast benchmark, all scenarios (%s)\n\n%s\n\n", r.Date, r.Machine)
	if r.Error != "" {
		fmt.Fprintf(&s, "**The run failed part way: %s.** The figures below are those measured before.\n\n", r.Error)
	}
	keys := make([]string, 0, len(r.Settings))
	for k := range r.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.WriteString("| setting | value |\n|---|---|\n")
	for _, k := range keys {
		fmt.Fprintf(&s, "| %s | %v |\n", k, r.Settings[k])
	}
	fmt.Fprintf(&s, "| whole run | %.0f s |\n", r.Seconds)
	plot := func(suffix string) {
		for _, p := range r.Plots {
			if strings.HasSuffix(p, suffix) {
				fmt.Fprintf(&s, "\n![%s](%s)\n", strings.TrimPrefix(strings.TrimSuffix(suffix, ".png"), "-"), p)
			}
		}
	}

	s.WriteString("\n## Reads per region (warm cache)\n\n| region | node | distance ms | req/s | of bare | p50 ms | p99 ms | requests | errors | cache hit rate |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, g := range r.Regions {
		if g.Read.Requests == 0 {
			continue
		}
		fmt.Fprintf(&s, "| %s | %s | %.0f | %.0f | %.2f | %.3f | %.3f | %d | %d | %.4f |\n", g.Region, g.Node, g.DelayMs,
			g.Read.ReqPerS, g.ReadVsBare, g.Read.P50Ms, g.Read.P99Ms, g.Read.Requests, g.Read.Errors, g.CacheHitRate)
	}
	for _, b := range r.Bare {
		if b.Requests > 0 {
			fmt.Fprintf(&s, "| %s | | | %.0f | | %.3f | %.3f | %d | %d | |\n", b.Name, b.ReqPerS, b.P50Ms, b.P99Ms, b.Requests, b.Errors)
		}
	}
	plot("-reads.png")
	plot("-latency.png")

	s.WriteString("\n## Replication lag per region\n\n| region | distance ms | writes | p50 ms | p90 ms | max ms | unseen | write errors | seen before ack | wait answers |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, g := range r.Regions {
		if l := g.Lag; l != nil {
			fmt.Fprintf(&s, "| %s | %.0f | %d | %.1f | %.1f | %.1f | %d | %d | %d | %d |\n", g.Region, g.DelayMs,
				l.Writes, l.P50Ms, l.P90Ms, l.MaxMs, l.Unseen, l.WriteErrors, l.SeenBeforeAck, l.Waits)
		}
	}
	plot("-lag.png")

	s.WriteString("\n## Unpublish (and publish) reaching each region\n\n| region | distance ms | unpublish median ms | unpublish max ms | timeouts | publish median ms | publish max ms | timeouts | unpublish, each trial ms |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, g := range r.Regions {
		u, p := g.Unpublish, g.Publish
		if u == nil || p == nil {
			continue
		}
		each := make([]string, len(u.Ms))
		for i, v := range u.Ms {
			each[i] = fmt.Sprintf("%.0f", v)
		}
		fmt.Fprintf(&s, "| %s | %.0f | %.0f | %.0f | %d | %.0f | %.0f | %d | %s |\n", g.Region, g.DelayMs,
			u.MedianMs, u.MaxMs, u.Timeouts, p.MedianMs, p.MaxMs, p.Timeouts, strings.Join(each, " "))
	}
	plot("-unpublish.png")

	if r.Failover != nil {
		s.WriteString("\n## Failover (separate raft cluster, no simulated distance)\n")
		s.WriteString((&Report{Failover: r.Failover}).failoverMarkdown())
	}
	if len(r.Notes) > 0 {
		s.WriteString("\n## Notes\n")
		for _, n := range r.Notes {
			s.WriteString("\n- " + n)
		}
		s.WriteString("\n")
	}
	return s.String()
}

func minReq(rs []Result) float64 {
	m := 0.0
	for i, r := range rs {
		if i == 0 || r.ReqPerS < m {
			m = r.ReqPerS
		}
	}
	return m
}

func maxReq(rs []Result) float64 {
	m := 0.0
	for _, r := range rs {
		m = max(m, r.ReqPerS)
	}
	return m
}

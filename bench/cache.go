package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/deploy/devcluster"
	"github.com/tablecast/tablecast/replica"
)

// writesPerSecond is the write rate of the write phases and lag phases.
const writesPerSecond = 20

// idleLag is how long lag is measured with no read load.
const idleLag = 5 * time.Second

// Lag is replication lag measured under one read load: for each write, the
// time from its ack on the primary to the replica's first /-/wait answer
// that shows a TXID at or past the write's.
type Lag struct {
	Name        string `json:"name"`
	Load        string `json:"load_url"`
	Writes      int    `json:"writes"`
	WriteErrors int    `json:"write_errors"`
	// Unseen writes never showed on the replica before the watcher gave up.
	Unseen int     `json:"unseen"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	MaxMs  float64 `json:"max_ms"`
	// SeenBeforeAck counts writes the replica showed before the primary's
	// answer reached the writer; their lag counts as 0.
	SeenBeforeAck int `json:"seen_before_ack"`
	// Waits counts the watcher's long-poll answers (each reports one or
	// more new TXIDs).
	Waits int `json:"waits"`
}

// runCache: the response cache on a replica's API URL against the bare
// handler (hot, hot while another table is written, hot while the read
// table is written), cache misses through FUSE against the same handler on
// a plain file, and replication lag under full read load. One cluster, one
// run: every figure is a ratio between targets measured together.
func runCache(ctx context.Context, o Options) (_ *Report, err error) {
	start := time.Now()
	// Two nodes: in a real cluster the other replicas run on other
	// machines; here they would only take the measured replica's cores
	// each time a write is applied.
	fmt.Println("starting a local cluster (primary + 1 replica, real LiteFS and FUSE, raft)…")
	c, err := startCluster(ctx, func(o *devcluster.Options) { o.Regions, o.Candidates = []string{"lhr", "syd"}, 1 })
	if err != nil {
		return nil, err
	}
	defer func() {
		c.Keep = err != nil // keep the nodes' logs of a failed run
		c.Stop()
	}()
	cr := &cacheRun{o: o, c: c, rep: c.Replica()}
	if err := cr.setup(ctx); err != nil {
		return nil, err
	}
	bare, stopBare, err := serveBare()
	if err != nil {
		return nil, err
	}
	defer stopBare()
	cr.bare = bare
	cr.r = &Report{reportHead: newHead("cache", map[string]any{"duration": o.Duration.String(), "connections": o.Connections, "threads": o.Threads,
		"rows": benchRows, "writes_per_s": writesPerSecond, "replica": cr.rep.Name, "loadavg_start": loadavg(), "tree": treeState()}),
		Ratios: map[string]float64{}}
	for _, phase := range []func(context.Context) error{cr.hot, cr.itemsWrites, cr.lags, cr.misses, cr.uncachedLag, cr.drift} {
		if err := phase(ctx); err != nil {
			return nil, err
		}
	}
	cr.r.Notes = append(cr.r.Notes, cacheNotes(cr.round.Duration, cr.mode, start)...)
	return cr.r, nil
}

// cacheRun is one run of scenario cache: the cluster's replica measured,
// the report, and the figures later phases compare.
type cacheRun struct {
	o    Options
	c    *cluster
	rep  devcluster.ClusterNode
	r    *Report
	bare string // the bare handler's URL
	// round is a hot round's settings (a shorter load).
	round Options
	// writeErr is set when a writer beside a load failed too often.
	writeErr error
	// The hot rounds' results, per target.
	bares, bareIns, bareHdrs, hots, hotWs, bareWs []Result
	// Figures the last ratios compare.
	itemsW, fuseMiss, plainMiss Result
	mode                        string // the plain copy's journal mode
}

// cacheItems is the path prefix of the keys read.
const cacheItems = "/bench/items/"

// setup loads bench.items and bench.other until the replica shows them.
func (cr *cacheRun) setup(ctx context.Context) error {
	fmt.Printf("loading %d rows into bench.items, creating bench.other…\n", benchRows)
	if err := loadItems(ctx, cr.c); err != nil {
		return err
	}
	if err := createOther(ctx, cr.c); err != nil {
		return err
	}
	for _, p := range []string{fmt.Sprintf("/bench/items/%d.json", benchRows), "/bench/other.json"} {
		if err := waitOK(ctx, cr.rep.APIURL+p, 30*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// add keeps a load's result in the report.
func (cr *cacheRun) add(res Result, err error) (Result, error) {
	if err == nil {
		cr.r.Results = append(cr.r.Results, res)
	}
	return res, err
}

// cached runs one wrk load on the replica's API URL, with bg running
// beside it, and records the cache's hit rate over the run.
func (cr *cacheRun) cached(ctx context.Context, name string, bg func(context.Context) string) (Result, error) {
	api, token := cr.rep.APIURL, cr.c.Token
	h0, m0, err := cacheCounters(ctx, api, token)
	if err != nil {
		return Result{}, err
	}
	n0, s0, err := catchUps(ctx, api, token)
	if err != nil {
		return Result{}, err
	}
	res, note, err := wrkWhile(ctx, cr.o, name, api, cacheItems, bg)
	if _, err = cr.add(res, err); err != nil {
		return res, err
	}
	if n1, s1, err := catchUps(ctx, api, token); err == nil && n1 > n0 {
		cr.r.Ratios["catch-ups: "+name+", count"] = n1 - n0
		cr.r.Ratios["catch-ups: "+name+", mean ms"] = (s1 - s0) / (n1 - n0) * 1000
		cr.r.Ratios["catch-ups: "+name+", share of the run reads waited"] = (s1 - s0) / cr.o.Duration.Seconds()
	}
	h1, m1, err := cacheCounters(ctx, api, token)
	if err != nil {
		return res, err
	}
	rate := 0.0
	if h1+m1-h0-m0 > 0 {
		rate = (h1 - h0) / (h1 + m1 - h0 - m0)
	}
	cr.r.Ratios["cache hit rate: "+name] = rate
	fmt.Printf("  %-36s cache hit rate %.4f%s\n", "", rate, note)
	if note != "" {
		cr.r.Notes = append(cr.r.Notes, name+":"+note)
	}
	return res, nil
}

// writes runs the writer beside a load; a failing writer fails the run.
func (cr *cacheRun) writes(body func(int) (string, any)) func(context.Context) string {
	return func(ctx context.Context) string {
		acks, errs := writeLoop(ctx, cr.c, body)
		if errs*20 > len(acks) {
			cr.writeErr = fmt.Errorf("%d of %d writes failed (see above)", errs, errs+len(acks))
		}
		return fmt.Sprintf(" %d writes, %d write errors", len(acks), errs)
	}
}

// withWrites is one load with the writer to bench.other beside it.
func (cr *cacheRun) withWrites(ctx context.Context, name, base, prefix string, round Options) (Result, error) {
	res, note, err := wrkWhile(ctx, round, name, base, prefix, cr.writes(otherWrite))
	if err == nil {
		err = cr.writeErr
	}
	if _, err = cr.add(res, err); err != nil {
		return res, err
	}
	fmt.Printf("  %-36s%s\n", "", note)
	cr.r.Notes = append(cr.r.Notes, name+":"+note)
	return res, nil
}

// hotTarget is one load of a hot round, and where its results go.
type hotTarget struct {
	name       string
	base, path string
	writes     bool
	res        *[]Result
}

// hot warms the cache and runs the hot rounds: hot against bare, and both
// with 20 writes/s to another table, interleaved: the cores are shared
// and drift, so the loads take turns, round after round, and each ratio is
// the median of its rounds'. The same writes beside bare show what writing
// and replicating cost on the shared cores, apart from the read path.
func (cr *cacheRun) hot(ctx context.Context) error {
	fmt.Printf("warming the cache: GET each of the %d keys once on %s…\n", benchRows, cr.rep.Name)
	if err := warm(ctx, cr.rep.APIURL+cacheItems, benchRows); err != nil {
		return err
	}
	fmt.Printf("load: wrk -t%d -c%d, %s per target, keys random in [1, %d]\n", cr.o.Threads, cr.o.Connections, cr.o.Duration, benchRows)
	cr.round = cr.o
	cr.round.Duration = max(cr.o.Duration*3/10, 2*time.Second)
	cr.r.Settings["hot_rounds"], cr.r.Settings["round_duration"] = hotRounds, cr.round.Duration.String()
	h0, m0, err := cacheCounters(ctx, cr.rep.APIURL, cr.c.Token)
	if err != nil {
		return err
	}
	n0, s0, err := catchUps(ctx, cr.rep.APIURL, cr.c.Token)
	if err != nil {
		return err
	}
	for i := 1; i <= hotRounds; i++ {
		if err := cr.hotRound(ctx, i); err != nil {
			return err
		}
	}
	if h1, m1, err := cacheCounters(ctx, cr.rep.APIURL, cr.c.Token); err != nil {
		return err
	} else if h1+m1-h0-m0 > 0 {
		cr.r.Ratios["cache hit rate: hot rounds, with and without writes"] = (h1 - h0) / (h1 + m1 - h0 - m0)
	}
	// Only the hot + writes phases make catch-ups (bare does not read the
	// replica; hot alone moves no TXID).
	if n1, s1, err := catchUps(ctx, cr.rep.APIURL, cr.c.Token); err == nil && n1 > n0 {
		name := "hot + 20 writes/s to bench.other, all rounds"
		cr.r.Ratios["catch-ups: "+name+", count"] = n1 - n0
		cr.r.Ratios["catch-ups: "+name+", mean ms"] = (s1 - s0) / (n1 - n0) * 1000
		cr.r.Ratios["catch-ups: "+name+", share of the time reads waited"] = (s1 - s0) / (float64(hotRounds) * cr.round.Duration.Seconds())
	}
	cr.hotRatios()
	return nil
}

// hotRound runs every target once, in an order that puts the loads each
// ratio compares next to each other (bare + writes, bare, hot, hot +
// writes, bare with headers, bare in the replica process), and every
// other round backwards: a drift of the shared cores over a round then
// falls on both sides of a ratio alike.
func (cr *cacheRun) hotRound(ctx context.Context, i int) error {
	rep := cr.rep
	order := []hotTarget{
		{"bare + 20 writes/s to bench.other", cr.bare, cacheItems, true, &cr.bareWs},
		{"bare net/http 200 B", cr.bare, cacheItems, false, &cr.bares},
		{"hot point read (cache)", rep.APIURL, cacheItems, false, &cr.hots},
		{"hot + 20 writes/s to bench.other", rep.APIURL, cacheItems, true, &cr.hotWs},
		{"bare + a cached read's headers, in the replica process", rep.BenchURL, "/bare-headers" + cacheItems, false, &cr.bareHdrs},
		{"bare, in the replica process", rep.BenchURL, "/bare" + cacheItems, false, &cr.bareIns},
	}
	if i%2 == 0 {
		slices.Reverse(order)
	}
	for _, t := range order {
		name := fmt.Sprintf("%s, round %d", t.name, i)
		var res Result
		var err error
		if t.writes {
			res, err = cr.withWrites(ctx, name, t.base, t.path, cr.round)
		} else {
			res, err = cr.add(wrkRun(ctx, cr.round, name, t.base, t.path, ".json", benchRows))
		}
		if err != nil {
			return err
		}
		*t.res = append(*t.res, res)
	}
	return nil
}

// hotRatios compares the hot rounds' targets.
func (cr *cacheRun) hotRatios() {
	r := cr.r
	r.Ratios["hot / bare (goal >= 0.8), median of rounds"] = medianRatio(cr.hots, cr.bares)
	for _, g := range []struct {
		name string
		a, b []Result
	}{{"hot / bare", cr.hots, cr.bares}, {"hot + writes to bench.other / hot", cr.hotWs, cr.hots}, {"control: bare + writes / bare", cr.bareWs, cr.bares}} {
		v := roundRatios(g.a, g.b)
		r.Ratios[g.name+", lower quartile of rounds"] = quantile(v, 0.25)
		r.Ratios[g.name+", upper quartile of rounds"] = quantile(v, 0.75)
		r.Notes = append(r.Notes, fmt.Sprintf("%s, each round: %s", g.name, formatRatios(v)))
	}
	r.Ratios["hot / bare in the replica process, median of rounds"] = medianRatio(cr.hots, cr.bareIns)
	r.Ratios["bare in the replica process / bare, median of rounds"] = medianRatio(cr.bareIns, cr.bares)
	r.Ratios["bare + a cached read's headers / bare, both in the replica process, median of rounds"] = medianRatio(cr.bareHdrs, cr.bareIns)
	r.Ratios["hot / bare + a cached read's headers (the read path alone), median of rounds"] = medianRatio(cr.hots, cr.bareHdrs)
	r.Ratios["hot + writes to bench.other / hot (goal >= 1.0), median of rounds"] = medianRatio(cr.hotWs, cr.hots)
	r.Ratios["control: bare + writes to bench.other / bare, median of rounds"] = medianRatio(cr.bareWs, cr.bares)
	r.Ratios["hot + writes / bare + writes, median of rounds"] = medianRatio(cr.hotWs, cr.bareWs)
}

// itemsWrites is one cached load while the read table is written.
func (cr *cacheRun) itemsWrites(ctx context.Context) error {
	var err error
	cr.itemsW, err = cr.cached(ctx, "hot + 20 writes/s to bench.items", cr.writes(itemsWrite))
	if err == nil {
		err = cr.writeErr
	}
	return err
}

// lags measures replication lag with no read load (the floor), then under
// full cached read load.
func (cr *cacheRun) lags(ctx context.Context) error {
	fmt.Println("replication lag with no read load (the floor)…")
	idle := measureLag(ctx, cr.c, idleLag)
	idle.Name = "no read load"
	if err := idle.check(); err != nil {
		return err
	}
	cr.r.Lag = append(cr.r.Lag, idle)

	fmt.Println("re-warming the cache (the writes to bench.items moved its version)…")
	if err := warm(ctx, cr.rep.APIURL+cacheItems, benchRows); err != nil {
		return err
	}
	fmt.Println("replication lag under full cached read load (writes to bench.other)…")
	h0, m0, err := cacheCounters(ctx, cr.rep.APIURL, cr.c.Token)
	if err != nil {
		return err
	}
	res, err := cr.lagUnder(ctx, "cached read load (API URL)", cr.rep.APIURL, cacheItems)
	if err != nil {
		return err
	}
	if h1, m1, err := cacheCounters(ctx, cr.rep.APIURL, cr.c.Token); err == nil && h1+m1-h0-m0 > 0 {
		cr.r.Ratios["cache hit rate: "+res.Name] = (h1 - h0) / (h1 + m1 - h0 - m0)
	}
	return nil
}

// lagUnder measures lag under one full read load and keeps both.
func (cr *cacheRun) lagUnder(ctx context.Context, name, base, prefix string) (Result, error) {
	res, lag, err := lagUnder(ctx, cr.o, cr.c, name, base, prefix)
	if err == nil {
		err = lag.check()
	}
	if _, err = cr.add(res, err); err != nil {
		return res, err
	}
	cr.r.Lag = append(cr.r.Lag, lag)
	return res, nil
}

// misses loads the replica's /nocache/ (FUSE) and the same handler on a
// plain-file copy of its database.
func (cr *cacheRun) misses(ctx context.Context) error {
	fmt.Println("cache misses: the replica's /nocache/ (FUSE) against the same handler on a plain-file copy…")
	plainDir, err := os.MkdirTemp("", "tablecast-bench-plain-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(plainDir)
	txid, err := statusTXID(ctx, http.DefaultClient, cr.rep.APIURL, cr.c.Token, "bench")
	if err != nil {
		return err
	}
	if cr.mode, err = copyPlain(ctx, filepath.Join(cr.rep.FUSEDir, tablecast.DBFileName("bench")), plainDir); err != nil {
		return err
	}
	plain, stopPlain, err := servePlain(plainDir, txid)
	if err != nil {
		return err
	}
	defer stopPlain()
	if cr.fuseMiss, err = cr.add(wrkRun(ctx, cr.o, "miss: /nocache/ on FUSE", cr.rep.BenchURL, "/nocache"+cacheItems, ".json", benchRows)); err != nil {
		return err
	}
	cr.plainMiss, err = cr.add(wrkRun(ctx, cr.o, "miss: /nocache/ on plain file", plain, "/nocache"+cacheItems, ".json", benchRows))
	return err
}

// uncachedLag measures lag under full uncached read load.
func (cr *cacheRun) uncachedLag(ctx context.Context) error {
	fmt.Println("replication lag under full uncached read load (/nocache/, writes to bench.other)…")
	_, err := cr.lagUnder(ctx, "uncached read load (/nocache/)", cr.rep.BenchURL, "/nocache"+cacheItems)
	return err
}

// drift runs bare again, last: the cores are shared; a second bare run
// shows how steady they were. Then it sets the last ratios.
func (cr *cacheRun) drift(ctx context.Context) error {
	bareEnd, err := cr.add(wrkRun(ctx, cr.o, "bare net/http 200 B (again, last)", cr.bare, cacheItems, ".json", benchRows))
	if err != nil {
		return err
	}
	r, hot := cr.r, Result{ReqPerS: median(cr.hots)}
	r.Ratios["drift: bare last / bare first"] = bareEnd.ReqPerS / cr.bares[0].ReqPerS
	r.Ratios["spread: bare rounds, slowest / fastest"] = spread(cr.bares)
	r.Ratios["spread: hot rounds, slowest / fastest"] = spread(cr.hots)
	r.Ratios["spread: hot + writes rounds, slowest / fastest"] = spread(cr.hotWs)
	r.Settings["loadavg_end"] = loadavg()
	r.Ratios["hot + writes to bench.items / hot (median of rounds)"] = cr.itemsW.ReqPerS / hot.ReqPerS
	r.Ratios["miss FUSE / miss plain file"] = cr.fuseMiss.ReqPerS / cr.plainMiss.ReqPerS
	r.Ratios["miss FUSE / hot"] = cr.fuseMiss.ReqPerS / hot.ReqPerS
	r.Settings["plain_copy_journal_mode"] = cr.mode
	return nil
}

// cacheNotes says how scenario cache measured.
func cacheNotes(round time.Duration, mode string, start time.Time) []string {
	return []string{
		"every target, bare included, goes through the same wrk Lua random-path script with the same path shape /…/bench/items/{key}.json (the bare handler ignores the path)",
		fmt.Sprintf("the cache is warmed by one GET of each of the %d keys before the hot runs, and again before the cached lag run", benchRows),
		"cluster: `tablecast dev -regions lhr,syd -candidates 1`: the primary (raft leader) and one replica, each with its own LiteFS and FUSE mount; the other replicas of a real cluster run on other machines, here they would only take the measured replica's cores at every write",
		"bare: a net/http server in the bench process answering the same 200 bytes of JSON to every path, with the API server's settings (ReadHeaderTimeout) and the nodes' collector settings (tablecast.TuneGC: GOGC 400, memory limit 3/4 of the machine's); bare in the replica process: the same handler on the replica's bench listener (/bare/), beside LiteFS, raft and the read path; bare + a cached read's headers: that handler also setting the five headers a cached read carries besides Content-Type (Tablecast-Region, -Node, -Lag-Ms, -Txid, ETag; fixed values; Content-Length is net/http's in both), so that hot / it is what the read path (routing, metrics, gate, cache) costs apart from net/http's per-header work",
		"hot: the replica's public API URL (gate + response cache); a hit touches no SQLite",
		fmt.Sprintf("rounds: %d, each running every target for %s in the order bare + writes, bare, hot, hot + writes, bare + headers, bare in the replica process, every other round backwards, so that the loads a ratio compares run next to each other and a drift of the shared cores falls on both alike; a ratio is the median of its rounds' ratios", hotRounds, round),
		fmt.Sprintf("write phases: a goroutine in the bench process upserts one row per %s on the primary (Bearer token): bench.other (ids cycling 1-100) or a random bench.items row with a new price", time.Second/writesPerSecond),
		"cache hit rate: the replica's /metrics hits / (hits + misses) over the run",
		"catch-ups: from the replica's tablecast_read_catchup_seconds over the run: the read transactions that load a database's versions after its TXID moved, which the reads arriving meanwhile wait for; share = their total time / the run's time",
		"miss FUSE: the replica's bench listener /nocache/ (gate on, cache off) reading through LiteFS FUSE, served by the replica process",
		"miss plain file: the same handler (replica.NewReader, Cache nil, same pool size, same /nocache/ prefix) in the bench process on a VACUUM INTO copy of the replica's FUSE file, journal mode " + mode + ", TXID fixed",
		"lag: writes go to bench.other (so the cached load stays cached); ack = when the primary's answer was read; seen = when an answer of the replica's GET /-/wait showed a TXID for bench at or past the write's (one watcher, always waiting for the TXID after the last it saw, so the replica answers the moment LiteFS applies it); lag = seen - ack, 0 when seen first",
		fmt.Sprintf("lag writes run from 0.5 s into the wrk load to 0.5 s before its end; with no read load, for %s (only the watcher)", idleLag),
		fmt.Sprintf("the whole scenario took %s", time.Since(start).Round(time.Second)),
	}
}

// hotRounds is how many turns bare, bare in the replica process and hot
// take.
const hotRounds = 11

// median is the median req/s of results.
func median(rs []Result) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = r.ReqPerS
	}
	return medianOf(v)
}

// medianRatio is the median over rounds of a[i]/b[i].
func medianRatio(a, b []Result) float64 { return medianOf(roundRatios(a, b)) }

// roundRatios are a's req/s over b's, round by round.
func roundRatios(a, b []Result) []float64 {
	v := make([]float64, len(a))
	for i := range a {
		v[i] = a[i].ReqPerS / b[i].ReqPerS
	}
	return v
}

// quantile is the q-quantile of v (linear between the nearest ranks).
func quantile(v []float64, q float64) float64 {
	v = slices.Sorted(slices.Values(v))
	x := q * float64(len(v)-1)
	i := int(x)
	if i+1 >= len(v) {
		return v[len(v)-1]
	}
	return v[i] + (x-float64(i))*(v[i+1]-v[i])
}

func formatRatios(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(parts, " ")
}

func medianOf(v []float64) float64 { return quantile(v, 0.5) }

// spread is the slowest result over the fastest.
func spread(rs []Result) float64 {
	lo, hi := rs[0].ReqPerS, rs[0].ReqPerS
	for _, r := range rs {
		lo, hi = min(lo, r.ReqPerS), max(hi, r.ReqPerS)
	}
	return lo / hi
}

// check fails a lag measurement whose writes failed; writes never seen
// on the replica are reported, not failed.
func (l Lag) check() error {
	if l.Writes == 0 || l.WriteErrors*20 > l.Writes {
		return fmt.Errorf("lag %s: %d writes, %d write errors", l.Name, l.Writes, l.WriteErrors)
	}
	return nil
}

// treeState names the code measured: the commit, and the files changed
// since (read-only git calls; the cluster is built from the work tree).
func treeState() string {
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"--no-optional-locks"}, args...)...).Output()
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(string(out))
	}
	s := git("rev-parse", "--short", "HEAD")
	if dirty := strings.Fields(git("diff", "--name-only", "HEAD")); len(dirty) > 0 {
		s += " + changes to " + strings.Join(dirty, " ")
	}
	if added := strings.Fields(git("ls-files", "--others", "--exclude-standard", "--", "*.go")); len(added) > 0 {
		s += " + new files " + strings.Join(added, " ")
	}
	return s
}

// loadavg is /proc/loadavg's 1, 5 and 15 minute figures: other work on the
// shared cores shows there.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// createOther creates and publishes bench.other, the table written while
// bench.items is read.
func createOther(ctx context.Context, c *cluster) error {
	if err := c.Post(ctx, "/bench/-/create", map[string]any{"table": "other", "pk": "id",
		"columns": []map[string]string{{"name": "id", "type": "integer"}, {"name": "note", "type": "text"}}}); err != nil {
		return err
	}
	return c.Post(ctx, "/bench/other/-/publish", map[string]any{})
}

// otherWrite upserts one row of bench.other.
func otherWrite(i int) (string, any) {
	return "/bench/other/-/upsert", map[string]any{"row": map[string]any{"id": i%100 + 1, "note": fmt.Sprintf("write %d", i)}}
}

// itemsWrite gives a random bench.items row a new price.
func itemsWrite(i int) (string, any) {
	id := rand.IntN(benchRows) + 1
	return "/bench/items/-/upsert", map[string]any{"row": map[string]any{"id": id, "price": float64(id)/100 + float64(i+1)/1000}}
}

// warm asks for every key once, 8 at a time, and wants 200 for each.
func warm(ctx context.Context, prefix string, keys int) error {
	next := make(chan int)
	errc := make(chan error, 8)
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				resp, err := client.Get(prefix + strconv.Itoa(k) + ".json")
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("warm %s%d.json: %s", prefix, k, resp.Status)
					}
				}
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
			}
		}()
	}
feed:
	for k := 1; k <= keys; k++ {
		select {
		case next <- k:
		case err := <-errc:
			close(next)
			wg.Wait()
			return err
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return ctx.Err()
	}
}

// cacheCounters reads the response cache's hit and miss counters from a
// node's /metrics (it needs the admin token).
func cacheCounters(ctx context.Context, api, token string) (hits, misses float64, err error) {
	v, err := metricValues(ctx, api, token, "tablecast_cache_hits_total", "tablecast_cache_misses_total")
	return v["tablecast_cache_hits_total"], v["tablecast_cache_misses_total"], err
}

// catchUps reads the replica's catch-up histogram: how many, and the
// seconds reads waited for them in all.
func catchUps(ctx context.Context, api, token string) (count, seconds float64, err error) {
	v, err := metricValues(ctx, api, token, "tablecast_read_catchup_seconds_count", "tablecast_read_catchup_seconds_sum")
	return v["tablecast_read_catchup_seconds_count"], v["tablecast_read_catchup_seconds_sum"], err
}

// metricValues reads unlabelled series from api's /metrics; every name
// must be there.
func metricValues(ctx context.Context, api, token string, names ...string) (map[string]float64, error) {
	resp, err := getAuthed(ctx, http.DefaultClient, api+"/metrics", token)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", api, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		if out[name], err = strconv.ParseFloat(v, 64); err != nil {
			return nil, fmt.Errorf("%s/metrics: %s: %w", api, name, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("%s/metrics: no %s", api, n)
		}
	}
	return out, nil
}

// wrkWhile runs wrk on base+prefix{key}.json with bg running beside it;
// bg's context ends when wrk does, and what bg returns is a note.
func wrkWhile(ctx context.Context, o Options, name, base, prefix string, bg func(context.Context) string) (Result, string, error) {
	if bg == nil {
		res, err := wrkRun(ctx, o, name, base, prefix, ".json", benchRows)
		return res, "", err
	}
	bgCtx, cancel := context.WithCancel(ctx)
	note := make(chan string, 1)
	go func() { note <- bg(bgCtx) }()
	res, err := wrkRun(ctx, o, name, base, prefix, ".json", benchRows)
	cancel()
	return res, <-note, err
}

// ack is one write as the writer saw it.
type ack struct {
	at   time.Time // when the primary's answer was read
	txid tablecast.TXID
}

// writeLoop posts writesPerSecond writes to the primary until ctx ends,
// one at a time on one kept-alive connection (a slow write delays the next
// tick rather than overlapping it). body gives write i's path and body.
func writeLoop(ctx context.Context, c *cluster, body func(i int) (string, any)) (acks []ack, errs int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(time.Second / writesPerSecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		path, b := body(i)
		txid, err := postTXID(ctx, client, c, path, b)
		if err != nil && ctx.Err() == nil {
			errs++
			if errs <= 3 {
				fmt.Fprintln(os.Stderr, "bench: write:", err)
			}
		} else if err == nil {
			acks = append(acks, ack{at: time.Now(), txid: txid})
		}
		select {
		case <-ctx.Done():
			return acks, errs
		case <-tick.C:
		}
	}
}

// postTXID sends one write to the primary and returns its TXID.
func postTXID(ctx context.Context, client *http.Client, c *cluster, path string, body any) (tablecast.TXID, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Nodes[0].APIURL+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("POST %s: %s: %s", path, resp.Status, raw)
	}
	var out struct {
		TXID string `json:"txid"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return 0, fmt.Errorf("POST %s: %w", path, err)
	}
	return tablecast.ParseTXID(out.TXID)
}

// statusTXID reads a node's TXID for db from /-/status.json.
func statusTXID(ctx context.Context, client *http.Client, api, token, db string) (tablecast.TXID, error) {
	resp, err := getAuthed(ctx, client, api+"/-/status.json", token) // TXIDs need a token
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		TXIDs map[string]string `json:"txids"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("%s/-/status.json: %w", api, err)
	}
	s, ok := st.TXIDs[db]
	if !ok {
		return 0, fmt.Errorf("%s/-/status.json: no txid for %s", api, db)
	}
	return tablecast.ParseTXID(s)
}

// seen is a wait answer that showed a new TXID.
type seen struct {
	at   time.Time
	txid tablecast.TXID
}

// watch records when each TXID of db shows on api, until ctx ends or, once
// target receives a TXID, that TXID is seen (or 3 s pass). It long-polls
// the node's /-/wait for the TXID after the last one seen: the node answers
// the moment LiteFS applies it (no polling interval, no request queued
// behind the load when the TXID arrives).
func watch(ctx context.Context, api, token, db string, target <-chan tablecast.TXID) (obs []seen) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	last, err := statusTXID(ctx, client, api, token, db)
	if err != nil {
		return nil
	}
	var want tablecast.TXID
	var wantSet bool
	var giveUp time.Time
	for {
		if !wantSet {
			select {
			case want = <-target:
				wantSet, giveUp = true, time.Now().Add(3*time.Second)
			default:
			}
		}
		if wantSet && (last >= want || time.Now().After(giveUp)) {
			return obs
		}
		txid, err := waitTXID(ctx, client, api, token, db, last+1)
		if ctx.Err() != nil {
			return obs
		}
		if err == nil && txid > last {
			obs = append(obs, seen{at: time.Now(), txid: txid})
			last = txid
		}
	}
}

// waitTXID long-polls api's /-/wait (up to 250 ms) for txid of db; it
// returns the node's TXID when it answers, 0 when the wait timed out.
func waitTXID(ctx context.Context, client *http.Client, api, token, db string, txid tablecast.TXID) (tablecast.TXID, error) {
	u := fmt.Sprintf("%s/-/wait?db=%s&txid=%s&timeout=250ms", api, url.QueryEscape(db), txid)
	resp, err := getAuthed(ctx, client, u, token)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusGatewayTimeout {
		_, _ = io.Copy(io.Discard, resp.Body)
		return 0, nil
	}
	var st struct {
		TXID string `json:"txid"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %d %v", u, resp.StatusCode, err)
	}
	return tablecast.ParseTXID(st.TXID)
}

// lagUnder runs full wrk load on base+prefix{key}.json and measures
// replication lag from 0.5 s into it to 0.5 s before its end.
func lagUnder(ctx context.Context, o Options, c *cluster, name, base, prefix string) (Result, Lag, error) {
	var lag Lag
	res, _, err := wrkWhile(ctx, o, "lag: "+name, base, prefix, func(ctx context.Context) string {
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(500 * time.Millisecond):
		}
		lag = measureLag(ctx, c, max(o.Duration-time.Second, time.Second))
		return ""
	})
	lag.Name, lag.Load = name, res.URL
	return res, lag, err
}

// measureLag writes to bench.other for d while a watcher follows the
// replica's TXID, then waits (up to 3 s) for the last write to show
// there: each write's lag is from its ack to the first answer showing it.
func measureLag(ctx context.Context, c *cluster, d time.Duration) Lag {
	return measureLagOn(ctx, c, d, []devcluster.ClusterNode{c.Replica()})[0]
}

// measureLagOn is measureLag with one watcher per node, all watching the
// same writes; the Lags come in the nodes' order, named after them.
func measureLagOn(ctx context.Context, c *cluster, d time.Duration, nodes []devcluster.ClusterNode) []Lag {
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	targets := make([]chan tablecast.TXID, len(nodes))
	got := make([][]seen, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		targets[i] = make(chan tablecast.TXID, 1)
		wg.Go(func() {
			got[i] = watch(watchCtx, n.APIURL, c.Token, "bench", targets[i])
		})
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	acks, errs := writeLoop(wctx, c, otherWrite)
	cancel()
	var last tablecast.TXID
	for _, a := range acks {
		last = max(last, a.txid)
	}
	for _, t := range targets {
		t <- last
	}
	wg.Wait()
	lags := make([]Lag, len(nodes))
	for k, obs := range got {
		lag := Lag{Name: nodes[k].Name, Writes: len(acks), WriteErrors: errs, Waits: len(obs)}
		var ds []time.Duration
		for _, a := range acks {
			i := sort.Search(len(obs), func(i int) bool { return obs[i].txid >= a.txid })
			if i == len(obs) {
				lag.Unseen++
				continue
			}
			d := obs[i].at.Sub(a.at)
			if d < 0 {
				lag.SeenBeforeAck++
				d = 0
			}
			ds = append(ds, d)
		}
		lag.P50Ms, lag.P90Ms, lag.MaxMs = pctMs(ds, 0.5), pctMs(ds, 0.9), pctMs(ds, 1)
		label := ""
		if len(nodes) > 1 {
			label = nodes[k].Name
		}
		fmt.Printf("  %-36s lag p50 %.1f ms  p90 %.1f ms  max %.1f ms  (%d writes, %d unseen, %d write errors, %d wait answers)\n",
			label, lag.P50Ms, lag.P90Ms, lag.MaxMs, lag.Writes, lag.Unseen, lag.WriteErrors, lag.Waits)
		lags[k] = lag
	}
	return lags
}

// pctMs is the nearest-rank q-quantile of ds in milliseconds.
func pctMs(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0 // JSON has no NaN; Writes and Unseen tell
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return float64(s[max(i, 0)]) / float64(time.Millisecond)
}

// copyPlain copies the database at src (the replica's FUSE file, opened
// read-only) to dir with VACUUM INTO, and gives the copy src's journal
// mode, which it returns.
func copyPlain(ctx context.Context, src, dir string) (string, error) {
	dst := filepath.Join(dir, tablecast.DBFileName("bench"))
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: src}).EscapedPath()+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return "", err
	}
	var mode string
	err = db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
	if err == nil {
		_, err = db.ExecContext(ctx, `VACUUM INTO ?`, dst)
	}
	// Close now: an open file on the FUSE mount would hold it at shutdown.
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("copy %s: %w", src, err)
	}
	out, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: dst}).EscapedPath())
	if err != nil {
		return "", err
	}
	defer out.Close()
	var got string
	if err := out.QueryRowContext(ctx, `PRAGMA journal_mode = `+mode).Scan(&got); err != nil {
		return "", fmt.Errorf("journal mode of %s: %w", dst, err)
	}
	return got, nil
}

// fixedPositions is a node with one database at one TXID.
type fixedPositions struct {
	db   string
	txid tablecast.TXID
}

func (p fixedPositions) TXID(db string) (tablecast.TXID, bool) { return p.txid, db == p.db }
func (p fixedPositions) Databases() []string                   { return []string{p.db} }

// servePlain serves the bench database in dir with the replica's read
// handler, cache off, under /nocache/ as the nodes' bench listener does.
func servePlain(dir string, txid tablecast.TXID) (string, func(), error) {
	rd := replica.NewReader(dir, fixedPositions{db: "bench", txid: txid}, &tablecast.CommitFence{})
	rd.Cache = nil
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/nocache/", http.StripPrefix("/nocache", rd))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	var once sync.Once
	return "http://" + ln.Addr().String(), func() {
		once.Do(func() {
			_ = srv.Close()
			_ = rd.Close()
		})
	}, nil
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/deploy/devcluster"
)

const (
	// syncBeforeKill synchronous writes go to the primary before each kill:
	// acknowledged writes the kill must not lose.
	syncBeforeKill = 20
	// probeEvery is the pace of the writes sent to the surviving candidates
	// after the kill.
	probeEvery = 10 * time.Millisecond
	// failoverWait bounds the wait for a new primary to accept a write.
	failoverWait = 60 * time.Second
	// bigRowsPerRequest rows of bigRowBytes go in each write of big.blobs.
	bigRowsPerRequest = 100
	bigRowBytes       = 10_000
)

// FailoverReport is the failover scenario's results.
type FailoverReport struct {
	Trials []FailoverTrial `json:"trials"`
	// Kill to the first synchronous write answered 201, over the trials.
	MedianMs float64 `json:"median_ms"`
	MaxMs    float64 `json:"max_ms"`
	MinMs    float64 `json:"min_ms"`
	// Restart of the killed node to 3 ready voters again.
	RejoinMedianMs float64 `json:"rejoin_median_ms"`
	RejoinMaxMs    float64 `json:"rejoin_max_ms"`
	// Acked counts the synchronous writes acknowledged over the run; Lost
	// those of them a new primary did not have (must be 0).
	Acked int `json:"acked"`
	Lost  int `json:"lost"`
	// Failed counts the writes not answered 201 after a kill, by answer.
	Failed map[string]int `json:"failed_by_answer"`
}

// FailoverTrial is one kill of the primary.
type FailoverTrial struct {
	Trial      int    `json:"trial"`
	Killed     string `json:"killed"`
	NewPrimary string `json:"new_primary"`
	// FirstVia is the surviving candidate the first accepted write was sent to.
	FirstVia string `json:"first_write_via"`
	// GoneMs: SIGKILL to the process gone (FUSE connection aborted on the way).
	GoneMs float64 `json:"kill_to_gone_ms"`
	// FirstWriteMs: SIGKILL to the first write answered 201 (synced).
	FirstWriteMs float64 `json:"kill_to_first_write_ms"`
	// Attempts writes were sent before the first 201 came back; Held of
	// them were answered 201 too (they waited on a survivor for a primary);
	// LastFailMs is the latest failed answer, from the SIGKILL.
	Attempts   int            `json:"attempts"`
	Held       int            `json:"held_then_acked"`
	LastFailMs float64        `json:"kill_to_last_failed_answer_ms"`
	Failed     map[string]int `json:"failed_by_answer"`
	// Acked is every acknowledged write of the run so far; Lost those the
	// new primary does not have; Unacked those it has though they were
	// not acknowledged (committed, but the answer was an error).
	Acked   int `json:"acked_so_far"`
	Lost    int `json:"lost"`
	Unacked int `json:"unacked_present"`
	// RestartAddrMs: restart of the killed node to its addr file (ready);
	// RejoinMs: to /-/cluster.json showing 3 ready voters.
	RestartAddrMs float64 `json:"restart_to_addr_ms"`
	RejoinMs      float64 `json:"restart_to_3_voters_ms"`
	RejoinedAs    string  `json:"rejoined_as"`
}

// CatchUp is a brand-new replica's start on a cluster holding a large database.
type CatchUp struct {
	Node     string  `json:"node"`
	Rows     int     `json:"rows"`
	MB       float64 `json:"mb"`
	LoadS    float64 `json:"load_s"`
	DBFileMB float64 `json:"primary_db_file_mb"`
	// From the process start: its addr file (ready), its first 200 of
	// /big/blobs/1.json, its TXID of big equal to the primary's.
	AddrMs      float64 `json:"start_to_addr_ms"`
	FirstReadMs float64 `json:"start_to_first_read_ms"`
	TXIDMs      float64 `json:"start_to_txid_match_ms"`
	TXID        string  `json:"txid"`
	PrimaryTXID string  `json:"primary_txid"`
	RowCount    int     `json:"row_count_seen"`
	// StopMs: SIGTERM to exit; Unmounted: its FUSE folder unmounted then.
	StopMs    float64 `json:"stop_ms"`
	Unmounted bool    `json:"unmounted"`
}

// failoverBench holds one run's cluster and the writes acknowledged on it.
type failoverBench struct {
	c      *cluster
	client *http.Client
	nextID atomic.Int64
	acked  map[int64]bool
	// errSamples keeps the first message of each kind of failed write.
	errSamples map[string]string
}

// runFailover: SIGKILL the primary o.Trials times and time the first
// synchronous write a surviving candidate gets accepted, checking no
// acknowledged write is lost; then time a brand-new replica's start
// against a ~100 MB database.
func runFailover(ctx context.Context, o Options) (_ *Report, err error) {
	b, err := newFailoverBench(ctx, o.Keep)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := b.cleanup(err != nil); err == nil {
			err = cerr
		}
	}()
	r := &Report{reportHead: newHead("failover", map[string]any{"trials": o.Trials, "sync_writes_before_each_kill": syncBeforeKill,
		"probe_interval": probeEvery.String(), "big_mb": o.BigMB, "big_rows_per_request": bigRowsPerRequest,
		"big_row_bytes": bigRowBytes, "loadavg_start": loadavg(), "tree": treeState()}),
		Ratios: map[string]float64{}}
	if r.Failover, err = b.trials(ctx, o.Trials); err != nil {
		return nil, err
	}

	cu, err := b.catchUp(ctx, o.BigMB)
	if err != nil {
		return nil, fmt.Errorf("new replica: %w", err)
	}
	r.CatchUp = cu

	r.Notes = append(r.Notes, b.notes()...)
	r.Notes = append(r.Notes,
		fmt.Sprintf("new replica: %d rows of %d random bytes loaded through the primary's write API, %d rows a request (one transaction each); the node is added as tablecast dev writes a node (its own folders, certificate and raft address), joining through the primary", cu.Rows, bigRowBytes, bigRowsPerRequest))
	r.Settings["loadavg_end"] = loadavg()
	return r, nil
}

// newFailoverBench starts a dev cluster with 3 raft candidates. The
// caller must call cleanup once it has the bench.
func newFailoverBench(ctx context.Context, keep bool) (*failoverBench, error) {
	fmt.Println("starting a local cluster (3 raft candidates lhr-1..3, replicas syd-1 and sjc-1; real LiteFS and FUSE)…")
	c, err := startCluster(ctx, nil)
	if err != nil {
		return nil, err
	}
	c.Keep = keep
	return &failoverBench{c: c, acked: map[int64]bool{}, errSamples: map[string]string{},
		client: &http.Client{Timeout: 20 * time.Second}}, nil
}

// trials waits for 3 ready voters, creates and publishes fo.t, then kills
// the primary n times.
func (b *failoverBench) trials(ctx context.Context, n int) (*FailoverReport, error) {
	fmt.Println("waiting for 3 ready raft voters…")
	if _, err := b.c.WaitVoters(ctx, "", 3, 60*time.Second); err != nil {
		return nil, err
	}
	if err := b.createTable(ctx, "fo", "t"); err != nil {
		return nil, err
	}
	fo := &FailoverReport{Failed: map[string]int{}}
	var firsts, rejoins []time.Duration
	for i := 1; i <= n; i++ {
		t, first, rejoin, err := b.trial(ctx, i, n)
		if err != nil {
			return nil, fmt.Errorf("trial %d: %w", i, err)
		}
		fo.Trials = append(fo.Trials, t)
		firsts, rejoins = append(firsts, first), append(rejoins, rejoin)
		for k, v := range t.Failed {
			fo.Failed[k] += v
		}
		fo.Lost += t.Lost
	}
	fo.Acked = len(b.acked)
	fo.MedianMs, fo.MaxMs, fo.MinMs = medianMs(firsts), maxMs(firsts), minMs(firsts)
	fo.RejoinMedianMs, fo.RejoinMaxMs = medianMs(rejoins), maxMs(rejoins)
	fmt.Printf("failover: kill → first synced write median %.0f ms, max %.0f ms; %d acknowledged writes, %d lost\n",
		fo.MedianMs, fo.MaxMs, fo.Acked, fo.Lost)
	return fo, nil
}

// createTable creates db.table (id integer primary key, v text) on the
// primary and publishes it.
func (b *failoverBench) createTable(ctx context.Context, db, table string) error {
	prim, err := b.primary(ctx)
	if err != nil {
		return err
	}
	if _, err := b.c.PostTo(ctx, prim.url+"/"+db+"/-/create", map[string]any{"table": table, "pk": "id",
		"columns": []map[string]string{{"name": "id", "type": "integer"}, {"name": "v", "type": "text"}}}, 201); err != nil {
		return err
	}
	_, err = b.c.PostTo(ctx, prim.url+"/"+db+"/"+table+"/-/publish", map[string]any{}, 200)
	return err
}

// notes explains the failover trials: how they run, and a sample of each
// kind of failed write.
func (b *failoverBench) notes() []string {
	var notes []string
	for _, k := range sortedStrings(b.errSamples) {
		notes = append(notes, fmt.Sprintf("failed write during failover, %s, e.g.: %s", k, b.errSamples[k]))
	}
	return append(notes,
		fmt.Sprintf("each failover trial: %d synchronous writes (?_sync=1) to the primary, then SIGKILL of its process and abort of its FUSE connection; from the SIGKILL a write with a new id goes every %s, round-robin, to the surviving candidates (forwarded to whichever node they take for the primary); the time is from the SIGKILL to the first answer 201", syncBeforeKill, probeEvery),
		"after each failover every acknowledged write is looked up on the new primary (all of fo.t paged through); the killed node is then restarted with its own folder and -join to the new primary, and the next trial starts once /-/cluster.json shows 3 ready voters",
		"the cluster runs as `tablecast dev` runs it (deploy/devcluster), its nodes child processes of this one; a killed node counts as gone once no thread of it is left")
}

// trial kills the primary once and brings the killed node back.
func (b *failoverBench) trial(ctx context.Context, i, trials int) (t FailoverTrial, first, rejoin time.Duration, err error) {
	t.Trial = i
	prim, err := b.primary(ctx)
	if err != nil {
		return t, 0, 0, err
	}
	t.Killed = prim.name
	if err := b.writeBeforeKill(ctx, prim, i); err != nil {
		return t, 0, 0, err
	}
	survivors, err := b.survivors(ctx, prim)
	if err != nil {
		return t, 0, 0, err
	}
	fmt.Printf("trial %d/%d: SIGKILL primary %s (pid %d)…", i, trials, prim.name, prim.node.PID)
	if first, err = b.kill(ctx, prim, survivors, &t); err != nil {
		return t, 0, 0, err
	}
	newPrim := slices.IndexFunc(survivors, func(s target) bool { return s.name == t.NewPrimary })
	if newPrim < 0 {
		return t, 0, 0, fmt.Errorf("the first write was served by %q, not a surviving candidate", t.NewPrimary)
	}
	if err := b.checkAcked(ctx, survivors[newPrim].url, &t); err != nil {
		return t, 0, 0, err
	}
	if rejoin, err = b.rejoin(ctx, prim, survivors[newPrim].nodeURL, &t); err != nil {
		return t, 0, 0, err
	}
	return t, first, rejoin, nil
}

// writeBeforeKill sends syncBeforeKill synchronous writes to the primary:
// acknowledged writes the kill must not lose.
func (b *failoverBench) writeBeforeKill(ctx context.Context, prim primaryNode, trial int) error {
	for range syncBeforeKill {
		id := b.nextID.Add(1)
		out, err := b.c.PostTo(ctx, prim.url+"/fo/t/-/insert?_sync=1", map[string]any{"row": map[string]any{"id": id, "v": fmt.Sprintf("before kill %d", trial)}}, 201)
		if err != nil {
			return err
		}
		if out["synced"] != true {
			return fmt.Errorf("write %d answered 201 without synced: %v", id, out)
		}
		b.acked[id] = true
	}
	return nil
}

// survivors are the candidates other than the primary: 2 of them.
func (b *failoverBench) survivors(ctx context.Context, prim primaryNode) ([]target, error) {
	rows, err := b.c.StatusRows(ctx, prim.name)
	if err != nil {
		return nil, err
	}
	var out []target
	for _, row := range rows {
		if row.Kind == "candidate" && row.Name != prim.name {
			out = append(out, target{name: row.Name, url: strings.TrimSuffix(row.APIURL, "/"), nodeURL: strings.TrimSuffix(row.NodeURL, "/")})
		}
	}
	if len(out) != 2 {
		return nil, fmt.Errorf("want 2 surviving candidates, have %v", out)
	}
	return out, nil
}

// kill SIGKILLs the primary, probes the survivors with writes from then
// on, and records in t how the failover went; first is the SIGKILL to the
// first synchronous write accepted.
func (b *failoverBench) kill(ctx context.Context, prim primaryNode, survivors []target, t *FailoverTrial) (first time.Duration, err error) {
	killAt := time.Now()
	if err := syscall.Kill(prim.node.PID, syscall.SIGKILL); err != nil {
		return 0, fmt.Errorf("kill %s: %w", prim.name, err)
	}
	probes := make(chan probeOutcome, 1)
	pctx, stopProbes := context.WithCancel(ctx)
	defer stopProbes()
	go func() { probes <- b.probe(pctx, survivors, t.Trial, killAt) }()
	if err := devcluster.Reap(ctx, prim.node, 10*time.Second); err != nil {
		return 0, err
	}
	t.GoneMs = ms(time.Since(killAt))
	p := <-probes
	if p.err != nil {
		return 0, p.err
	}
	first = p.first.at.Sub(killAt)
	t.FirstWriteMs, t.Attempts, t.Failed, t.Held = ms(first), p.attempts, p.failed, len(p.acked)-1
	if !p.lastFail.IsZero() {
		t.LastFailMs = ms(p.lastFail.Sub(killAt))
	}
	t.NewPrimary, t.FirstVia = p.first.node, p.first.via
	b.record(p)
	fmt.Printf(" gone in %.0f ms; first synced write accepted by %s after %.0f ms (via %s; %d sent, %d more held then accepted, last failure at %.0f ms: %v)\n",
		t.GoneMs, t.NewPrimary, t.FirstWriteMs, t.FirstVia, t.Attempts, t.Held, t.LastFailMs, t.Failed)
	return first, nil
}

// record keeps a probe's acknowledged writes and its first sample of each
// kind of failure.
func (b *failoverBench) record(p probeOutcome) {
	for _, id := range p.acked {
		b.acked[id] = true
	}
	for k, v := range p.samples {
		if _, ok := b.errSamples[k]; !ok {
			b.errSamples[k] = v
		}
	}
}

// checkAcked looks every acknowledged write up on the new primary at url.
func (b *failoverBench) checkAcked(ctx context.Context, url string, t *FailoverTrial) error {
	present, err := b.ids(ctx, url)
	if err != nil {
		return err
	}
	for id := range b.acked {
		if !present[id] {
			t.Lost++
		}
	}
	for id := range present {
		if !b.acked[id] {
			t.Unacked++
		}
	}
	t.Acked = len(b.acked)
	fmt.Printf("  %s has %d rows: %d acknowledged writes, %d lost, %d present though not acknowledged\n",
		t.NewPrimary, len(present), t.Acked, t.Lost, t.Unacked)
	return nil
}

// rejoin restarts the killed node with its own folder, as tablecast dev
// would, joining through join, and waits for 3 ready voters.
func (b *failoverBench) rejoin(ctx context.Context, prim primaryNode, join string, t *FailoverTrial) (time.Duration, error) {
	start := time.Now()
	if err := b.c.Restart(ctx, prim.index, join); err != nil {
		return 0, err
	}
	t.RestartAddrMs = ms(time.Since(start))
	rows, err := b.c.WaitVoters(ctx, "", 3, 60*time.Second)
	if err != nil {
		return 0, err
	}
	rejoin := time.Since(start)
	t.RejoinMs = ms(rejoin)
	for _, row := range rows {
		if row.Name == prim.name {
			t.RejoinedAs = row.ReportedRole()
		}
		if row.ReportedRole() == "primary" && row.Name != t.NewPrimary {
			fmt.Printf("  note: the primary moved again, to %s, while %s rejoined\n", row.Name, prim.name)
		}
	}
	fmt.Printf("  %s restarted: ready (addr file) in %.0f ms, 3 ready voters after %.0f ms, back as %s\n",
		prim.name, t.RestartAddrMs, t.RejoinMs, t.RejoinedAs)
	return rejoin, nil
}

// target is a node: its API URL, and its node URL (node-to-node calls,
// -join: mutual TLS).
type target struct{ name, url, nodeURL string }

type probeOutcome struct {
	first    probeAnswer
	attempts int
	failed   map[string]int
	samples  map[string]string
	acked    []int64
	lastFail time.Time
	err      error
}

type probeAnswer struct {
	id        int64
	status    int
	synced    bool
	node, via string
	key, msg  string
	at        time.Time
}

// probe sends a synchronous write every probeEvery, round-robin to the
// targets, each in its own request, until one is answered 201; then waits
// for the writes still in flight (their acknowledgements count too).
func (b *failoverBench) probe(ctx context.Context, targets []target, trial int, killAt time.Time) probeOutcome {
	out := probeOutcome{failed: map[string]int{}, samples: map[string]string{}}
	// Room for every answer: the loop stops reading once it has a 201.
	answers := make(chan probeAnswer, int(failoverWait/probeEvery)+16)
	var wg sync.WaitGroup
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	deadline := time.After(failoverWait)
	var all []probeAnswer
	got201 := false
	for i := 0; !got201; i++ {
		tg := targets[i%len(targets)]
		id := b.nextID.Add(1)
		out.attempts++
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers <- b.probeWrite(ctx, tg, id, trial)
		}()
	wait:
		for {
			select {
			case a := <-answers:
				all = append(all, a)
				if a.status == 201 {
					got201 = true
					break wait
				}
			case <-tick.C:
				break wait
			case <-deadline:
				wg.Wait()
				out.err = fmt.Errorf("no write accepted within %s of the SIGKILL", failoverWait)
				return out
			case <-ctx.Done():
				out.err = ctx.Err()
				return out
			}
		}
	}
	go func() { wg.Wait(); close(answers) }()
	for a := range answers {
		all = append(all, a)
	}
	for _, a := range all {
		if a.status == 201 && a.synced {
			out.acked = append(out.acked, a.id)
			if out.first.at.IsZero() || a.at.Before(out.first.at) {
				out.first = a
			}
			continue
		}
		out.failed[a.key]++
		if a.at.After(out.lastFail) {
			out.lastFail = a.at
		}
		if _, ok := out.samples[a.key]; !ok {
			out.samples[a.key] = fmt.Sprintf("%s (sent to %s, answered %.0f ms after the kill)", a.msg, a.via, ms(a.at.Sub(killAt)))
		}
	}
	if out.first.at.IsZero() {
		out.err = errors.New("a write was answered 201 without synced")
	}
	return out
}

// probeWrite sends one synchronous insert of a new id.
func (b *failoverBench) probeWrite(ctx context.Context, tg target, id int64, trial int) probeAnswer {
	a := probeAnswer{id: id, via: tg.name}
	body, _ := json.Marshal(map[string]any{"row": map[string]any{"id": id, "v": fmt.Sprintf("failover %d", trial)}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tg.url+"/fo/t/-/insert?_sync=1", bytes.NewReader(body))
	if err != nil {
		a.key, a.msg, a.at = "request", err.Error(), time.Now()
		return a
	}
	req.Header.Set("Authorization", "Bearer "+b.c.Token)
	resp, err := b.client.Do(req)
	if err != nil {
		a.at = time.Now()
		a.key, a.msg = "no answer: "+errKind(err), err.Error()
		return a
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	a.at = time.Now()
	a.status, a.node = resp.StatusCode, resp.Header.Get("Tablecast-Node")
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	a.synced = m["synced"] == true
	a.key = strconv.Itoa(resp.StatusCode)
	if a.status != 201 {
		a.key += ": " + errShape(str(m["error"]))
	}
	a.msg = strings.TrimSpace(string(raw))
	return a
}

var reTXIDs = regexp.MustCompile(`[0-9a-f]{16}`)

// errShape is an error message with its TXIDs blanked, to count alike
// failures together.
func errShape(msg string) string {
	if i := strings.Index(msg, ": Get "); i > 0 {
		msg = msg[:i] // the failed /-/wait call of a sync write names a URL
	}
	return reTXIDs.ReplaceAllString(msg, "…")
}

func errKind(err error) string {
	s := err.Error()
	for _, k := range []string{"connection refused", "connection reset", "EOF", "Timeout", "deadline"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	return "other"
}

// ids lists every id of fo.t on the node at base.
func (b *failoverBench) ids(ctx context.Context, base string) (map[int64]bool, error) {
	out := map[int64]bool{}
	path := "/fo/t.json?_size=1000"
	for path != "" {
		var page struct {
			Rows []struct {
				ID int64 `json:"id"`
			} `json:"rows"`
			NextURL *string `json:"next_url"`
		}
		u := path // next_url is absolute (the host asked), the first path not
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			u = base + path
		}
		if err := b.c.GetJSON(ctx, u, &page); err != nil {
			return nil, err
		}
		for _, r := range page.Rows {
			out[r.ID] = true
		}
		path = ""
		if page.NextURL != nil {
			path = *page.NextURL
		}
	}
	return out, nil
}

// catchUp loads ~mb MB into big.blobs, then times a brand-new replica's start.
func (b *failoverBench) catchUp(ctx context.Context, mb int) (*CatchUp, error) {
	prim, err := b.primary(ctx)
	if err != nil {
		return nil, err
	}
	if err := b.createTable(ctx, "big", "blobs"); err != nil {
		return nil, err
	}
	requests := max(1, mb*1_000_000/(bigRowsPerRequest*bigRowBytes))
	cu := &CatchUp{Rows: requests * bigRowsPerRequest}
	if err := b.loadBig(ctx, prim, requests, cu); err != nil {
		return nil, err
	}
	fmt.Printf("starting a new replica (region gru) joining through %s…\n", prim.name)
	start := time.Now()
	n, err := b.c.AddNodeVia(ctx, "gru", "", false, prim.node)
	if err != nil {
		return nil, err
	}
	cu.Node, cu.AddrMs = n.Name, ms(time.Since(start))
	fmt.Printf("  %s ready (addr file) after %.0f ms\n", cu.Node, cu.AddrMs)
	if err := b.waitCaughtUp(ctx, n, start, cu); err != nil {
		return nil, err
	}
	if err := b.countBig(ctx, n, cu); err != nil {
		return nil, err
	}
	return cu, b.stopNew(n, cu)
}

// loadBig writes requests × bigRowsPerRequest rows of random bytes into
// big.blobs through the primary, and records the primary's TXID of big
// and its database file's size.
func (b *failoverBench) loadBig(ctx context.Context, prim primaryNode, requests int, cu *CatchUp) error {
	fmt.Printf("loading %d rows of %d random bytes into big.blobs through %s (%d requests)…\n", cu.Rows, bigRowBytes, prim.name, requests)
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	loadStart := time.Now()
	for r := range requests {
		if _, err := b.c.PostTo(ctx, prim.url+"/big/blobs/-/insert", map[string]any{"rows": bigRows(rng, r*bigRowsPerRequest+1)}, 201); err != nil {
			return err
		}
		if (r+1)%20 == 0 {
			fmt.Printf("  %d/%d requests, %.0f s\n", r+1, requests, time.Since(loadStart).Seconds())
		}
	}
	cu.LoadS = time.Since(loadStart).Seconds()
	cu.MB = float64(cu.Rows*bigRowBytes) / 1e6
	var err error
	if cu.PrimaryTXID, err = b.txid(ctx, prim.url, "big"); err != nil {
		return err
	}
	if fi, err := os.Stat(filepath.Join(prim.node.FUSEDir, tablecast.DBFileName("big"))); err == nil {
		cu.DBFileMB = float64(fi.Size()) / 1e6
	}
	fmt.Printf("  loaded %.0f MB in %.1f s; big is at TXID %s on %s (database file %.0f MB)\n", cu.MB, cu.LoadS, cu.PrimaryTXID, prim.name, cu.DBFileMB)
	return nil
}

// bigRows is one request's rows of big.blobs, ids from first on.
func bigRows(rng *rand.Rand, first int) []map[string]any {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	buf := make([]byte, bigRowBytes)
	rows := make([]map[string]any, bigRowsPerRequest)
	for k := range rows {
		for j := range buf {
			buf[j] = alphabet[rng.IntN(len(alphabet))]
		}
		rows[k] = map[string]any{"id": first + k, "v": string(buf)}
	}
	return rows
}

// txid is the node at base's TXID of db (/-/status.json).
func (b *failoverBench) txid(ctx context.Context, base, db string) (string, error) {
	var st struct {
		TXIDs map[string]string `json:"txids"`
	}
	if err := b.c.GetJSON(ctx, base+"/-/status.json", &st); err != nil {
		return "", err
	}
	return st.TXIDs[db], nil
}

// waitCaughtUp polls the new node n until it serves /big/blobs/1.json and
// its TXID of big is the primary's, timing both from start.
func (b *failoverBench) waitCaughtUp(ctx context.Context, n devcluster.ClusterNode, start time.Time, cu *CatchUp) error {
	deadline := time.Now().Add(5 * time.Minute)
	for cu.FirstReadMs == 0 || cu.TXIDMs == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: read %.0f ms, TXID match %.0f ms (have %s, want %s) after 5 minutes", cu.Node, cu.FirstReadMs, cu.TXIDMs, cu.TXID, cu.PrimaryTXID)
		}
		if cu.FirstReadMs == 0 {
			if resp, err := b.client.Get(n.APIURL + "/big/blobs/1.json"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					cu.FirstReadMs = ms(time.Since(start))
				}
			}
		}
		if cu.TXIDMs == 0 {
			if txid, err := b.txid(ctx, n.APIURL, "big"); err == nil {
				if cu.TXID = txid; cu.TXID == cu.PrimaryTXID {
					cu.TXIDMs = ms(time.Since(start))
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// countBig checks the new node n shows every row of big.blobs.
func (b *failoverBench) countBig(ctx context.Context, n devcluster.ClusterNode, cu *CatchUp) error {
	var db struct {
		Tables []struct {
			Name  string `json:"name"`
			Count int    `json:"count"`
		} `json:"tables"`
	}
	if err := b.c.GetJSON(ctx, n.APIURL+"/big.json", &db); err != nil {
		return err
	}
	for _, t := range db.Tables {
		if t.Name == "blobs" {
			cu.RowCount = t.Count
		}
	}
	fmt.Printf("  first 200 of /big/blobs/1.json after %.0f ms; TXID %s (primary %s) after %.0f ms; %d rows\n",
		cu.FirstReadMs, cu.TXID, cu.PrimaryTXID, cu.TXIDMs, cu.RowCount)
	if cu.RowCount != cu.Rows {
		return fmt.Errorf("%s shows %d rows of big.blobs, want %d", cu.Node, cu.RowCount, cu.Rows)
	}
	return nil
}

// stopNew stops the new node n with SIGTERM, timing it, and checks its
// FUSE folder was unmounted.
func (b *failoverBench) stopNew(n devcluster.ClusterNode, cu *CatchUp) error {
	stop := time.Now()
	err := b.c.StopNode(n.Name, 30*time.Second)
	cu.StopMs = ms(time.Since(stop))
	cu.Unmounted = !devcluster.IsMounted(n.FUSEDir)
	fmt.Printf("  %s stopped in %.0f ms, FUSE unmounted: %v\n", cu.Node, cu.StopMs, cu.Unmounted)
	if !cu.Unmounted {
		return fmt.Errorf("%s's FUSE folder %s still mounted after it stopped", cu.Node, n.FUSEDir)
	}
	return err
}

// cleanup stops the cluster, checks no FUSE mount is left and removes the
// folders unless the run failed.
func (b *failoverBench) cleanup(failed bool) error {
	b.c.Keep = b.c.Keep || failed
	err := b.c.Stop()
	if err == nil {
		fmt.Println("cluster stopped, no FUSE mount left")
	}
	return err
}

// primaryNode is the node /-/cluster.json names primary, and where it is in
// the cluster's nodes.
type primaryNode struct {
	name, url, nodeURL string
	index              int
	node               devcluster.ClusterNode
}

// primary is the node /-/cluster.json names primary.
func (b *failoverBench) primary(ctx context.Context) (primaryNode, error) {
	rows, err := b.c.StatusRows(ctx, "")
	if err != nil {
		return primaryNode{}, err
	}
	for _, row := range rows {
		if row.ReportedRole() != "primary" {
			continue
		}
		p := primaryNode{name: row.Name, url: strings.TrimSuffix(row.APIURL, "/"), nodeURL: strings.TrimSuffix(row.NodeURL, "/")}
		p.index = slices.IndexFunc(b.c.Nodes, func(n devcluster.ClusterNode) bool { return n.Name == p.name })
		if p.index < 0 {
			return p, fmt.Errorf("primary %s is not a node of the cluster", p.name)
		}
		if p.node = b.c.Nodes[p.index]; strings.TrimSuffix(p.node.APIURL, "/") != p.url {
			return p, fmt.Errorf("%s: the harness has %s, the cluster says %s", p.name, p.node.APIURL, p.url)
		}
		return p, nil
	}
	return primaryNode{}, fmt.Errorf("no primary in /-/cluster.json: %v", rows)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func medianMs(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return ms(s[len(s)/2])
	}
	return (ms(s[len(s)/2-1]) + ms(s[len(s)/2])) / 2
}

func maxMs(ds []time.Duration) float64 {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return ms(m)
}

func minMs(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return ms(m)
}

func sortedStrings(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// failoverMarkdown renders the failover scenario's tables.
func (r *Report) failoverMarkdown() string {
	s := ""
	if fo := r.Failover; fo != nil {
		s += "\n| trial | killed | new primary | first write via | kill → gone ms | kill → first synced write ms | writes sent | held then acked | last failed answer ms | failed writes | acked so far | lost | unacked present | restart → ready ms | restart → 3 voters ms | rejoined as |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
		for _, t := range fo.Trials {
			failed := make([]string, 0, len(t.Failed))
			for k, v := range t.Failed {
				failed = append(failed, fmt.Sprintf("%d × %s", v, k))
			}
			sort.Strings(failed)
			s += fmt.Sprintf("| %d | %s | %s | %s | %.0f | %.0f | %d | %d | %.0f | %s | %d | %d | %d | %.0f | %.0f | %s |\n",
				t.Trial, t.Killed, t.NewPrimary, t.FirstVia, t.GoneMs, t.FirstWriteMs, t.Attempts, t.Held, t.LastFailMs, strings.Join(failed, "; "),
				t.Acked, t.Lost, t.Unacked, t.RestartAddrMs, t.RejoinMs, t.RejoinedAs)
		}
		s += fmt.Sprintf("\n| failover | value |\n|---|---|\n| kill → first synced write, median ms | %.0f |\n| kill → first synced write, max ms | %.0f |\n| kill → first synced write, min ms | %.0f |\n| restart → 3 ready voters, median ms | %.0f |\n| restart → 3 ready voters, max ms | %.0f |\n| acknowledged writes | %d |\n| acknowledged writes lost | %d |\n",
			fo.MedianMs, fo.MaxMs, fo.MinMs, fo.RejoinMedianMs, fo.RejoinMaxMs, fo.Acked, fo.Lost)
	}
	if cu := r.CatchUp; cu != nil {
		s += fmt.Sprintf("\n| new replica %s | value |\n|---|---|\n| data loaded | %d rows, %.0f MB in %.1f s (database file %.0f MB) |\n| start → ready (addr file) ms | %.0f |\n| start → first 200 of /big/blobs/1.json ms | %.0f |\n| start → TXID of big equal to the primary's ms | %.0f |\n| TXID (primary's) | %s (%s) |\n| rows seen | %d |\n| SIGTERM → exit ms | %.0f |\n| FUSE unmounted after stop | %v |\n",
			cu.Node, cu.Rows, cu.MB, cu.LoadS, cu.DBFileMB, cu.AddrMs, cu.FirstReadMs, cu.TXIDMs, cu.TXID, cu.PrimaryTXID, cu.RowCount, cu.StopMs, cu.Unmounted)
	}
	return s
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/fsmount"
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

// devNode is a node as cluster.json lists it.
type devNode struct {
	Name      string `json:"name"`
	Region    string `json:"region"`
	Role      string `json:"role"`
	APIURL    string `json:"api_url"`
	PID       int    `json:"pid"`
	FUSEDir   string `json:"fuse_dir"`
	Log       string `json:"log"`
	Candidate bool   `json:"candidate"`
	RaftAddr  string `json:"raft_addr"`
}

// addrFile is what `serve -addr-file` writes once the node is ready.
type addrFile struct {
	APIURL string `json:"api_url"`
	PID    int    `json:"pid"`
}

// ownNode is a node process this benchmark started (restarted or new).
type ownNode struct {
	name, home, fuseDir string
	cmd                 *exec.Cmd
	done                chan struct{}
}

// failoverBench holds one run's cluster and the writes acknowledged on it.
type failoverBench struct {
	c      *cluster
	bin    string
	devDir string
	token  string
	nodes  []devNode
	own    map[string]*ownNode
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
		fmt.Sprintf("new replica: %d rows of %d random bytes loaded through the primary's write API, %d rows a request (one transaction each); the node is syd-1's litefs.yml with a new name, region, folders and raft address, started with -join to a live node", cu.Rows, bigRowBytes, bigRowsPerRequest))
	r.Settings["loadavg_end"] = loadavg()
	return r, nil
}

// newFailoverBench starts a dev cluster with 3 raft candidates and pauses
// `tablecast dev`: it stops the whole cluster as soon as one of its nodes
// exits. Paused, it cannot: its nodes run on (they are their own
// processes), and the ones killed here stay zombies until it resumes. The
// caller must call cleanup once it has the bench.
func newFailoverBench(ctx context.Context, keep bool) (*failoverBench, error) {
	fmt.Println("starting a local cluster (3 raft candidates lhr-1..3, replicas syd-1 and sjc-1; real LiteFS and FUSE)…")
	c, err := startCluster(ctx)
	if err != nil {
		return nil, err
	}
	c.Keep = keep
	b := &failoverBench{c: c, bin: filepath.Join(c.dir, "tablecast"), devDir: filepath.Join(c.dir, "cluster"),
		token: c.Token, own: map[string]*ownNode{}, acked: map[int64]bool{}, errSamples: map[string]string{},
		client: &http.Client{Timeout: 20 * time.Second}}
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("pause tablecast dev: %w", err)
	}
	return b, nil
}

// trials reads the cluster's nodes, waits for 3 ready voters, creates
// and publishes fo.t, then kills the primary n times.
func (b *failoverBench) trials(ctx context.Context, n int) (*FailoverReport, error) {
	raw, err := os.ReadFile(filepath.Join(b.devDir, "cluster.json"))
	if err != nil {
		return nil, err
	}
	var cf struct {
		Nodes []devNode `json:"nodes"`
	}
	if err := json.Unmarshal(raw, &cf); err != nil {
		return nil, err
	}
	b.nodes = cf.Nodes
	fmt.Println("waiting for 3 ready raft voters…")
	if _, err := b.waitVoters(ctx, 3, 60*time.Second); err != nil {
		return nil, err
	}
	prim, err := b.primary(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := b.post(ctx, prim.url+"/fo/-/create", map[string]any{"table": "t", "pk": "id",
		"columns": []map[string]string{{"name": "id", "type": "integer"}, {"name": "v", "type": "text"}}}, 201); err != nil {
		return nil, err
	}
	if _, err := b.post(ctx, prim.url+"/fo/t/-/publish", map[string]any{}, 200); err != nil {
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

// notes explains the failover trials: how they run, and a sample of each
// kind of failed write.
func (b *failoverBench) notes() []string {
	var notes []string
	for _, k := range sortedStrings(b.errSamples) {
		notes = append(notes, fmt.Sprintf("failed write during failover, %s, e.g.: %s", k, b.errSamples[k]))
	}
	return append(notes,
		fmt.Sprintf("each failover trial: %d synchronous writes (?_sync=1) to the primary, then SIGKILL of its process (pid from its addr.json) and abort of its FUSE connection; from the SIGKILL a write with a new id goes every %s, round-robin, to the surviving candidates (forwarded to whichever node they take for the primary); the time is from the SIGKILL to the first answer 201", syncBeforeKill, probeEvery),
		"after each failover every acknowledged write is looked up on the new primary (all of fo.t paged through); the killed node is then restarted with its own folder and -join to the new primary, and the next trial starts once /-/cluster.json shows 3 ready voters",
		"tablecast dev stops its whole cluster once one of its nodes exits: it is paused (SIGSTOP) for the run and resumed to stop the cluster; a killed node of its own counts as gone once it is a zombie with no thread left")
}

// trial kills the primary once and brings the killed node back.
func (b *failoverBench) trial(ctx context.Context, i, trials int) (t FailoverTrial, first, rejoin time.Duration, err error) {
	t.Trial = i
	prim, err := b.primary(ctx)
	if err != nil {
		return t, 0, 0, err
	}
	t.Killed = prim.name
	for range syncBeforeKill {
		id := b.nextID.Add(1)
		out, err := b.post(ctx, prim.url+"/fo/t/-/insert?_sync=1", map[string]any{"row": map[string]any{"id": id, "v": fmt.Sprintf("before kill %d", i)}}, 201)
		if err != nil {
			return t, 0, 0, err
		}
		if out["synced"] != true {
			return t, 0, 0, fmt.Errorf("write %d answered 201 without synced: %v", id, out)
		}
		b.acked[id] = true
	}
	var survivors []target
	rows, err := b.clusterStatus(ctx, prim.name)
	if err != nil {
		return t, 0, 0, err
	}
	for _, row := range rows {
		if row["kind"] == "candidate" && row["name"] != prim.name {
			survivors = append(survivors, target{name: str(row["name"]), url: strings.TrimSuffix(str(row["api_url"]), "/"), nodeURL: strings.TrimSuffix(str(row["node_url"]), "/")})
		}
	}
	if len(survivors) != 2 {
		return t, 0, 0, fmt.Errorf("want 2 surviving candidates, have %v", survivors)
	}
	addr, err := b.readAddr(prim.name)
	if err != nil {
		return t, 0, 0, err
	}
	if addr.APIURL != prim.url {
		return t, 0, 0, fmt.Errorf("%s: addr.json says %s, the cluster says %s", prim.name, addr.APIURL, prim.url)
	}

	fmt.Printf("trial %d/%d: SIGKILL primary %s (pid %d)…", i, trials, prim.name, addr.PID)
	killAt := time.Now()
	if err := syscall.Kill(addr.PID, syscall.SIGKILL); err != nil {
		return t, 0, 0, fmt.Errorf("kill %s: %w", prim.name, err)
	}
	probes := make(chan probeOutcome, 1)
	pctx, stopProbes := context.WithCancel(ctx)
	defer stopProbes()
	go func() { probes <- b.probe(pctx, survivors, i, killAt) }()
	if err := fsmount.AbortFUSE(filepath.Join(b.devDir, prim.name, "fuse")); err != nil {
		return t, 0, 0, fmt.Errorf("abort %s's FUSE: %w", prim.name, err)
	}
	if err := waitGone(ctx, addr.PID, 10*time.Second); err != nil {
		return t, 0, 0, fmt.Errorf("%s: %w", prim.name, err)
	}
	t.GoneMs = ms(time.Since(killAt))
	p := <-probes
	if p.err != nil {
		return t, 0, 0, p.err
	}
	first = p.first.at.Sub(killAt)
	t.FirstWriteMs, t.Attempts, t.Failed, t.Held = ms(first), p.attempts, p.failed, len(p.acked)-1
	if !p.lastFail.IsZero() {
		t.LastFailMs = ms(p.lastFail.Sub(killAt))
	}
	t.NewPrimary, t.FirstVia = p.first.node, p.first.via
	for _, id := range p.acked {
		b.acked[id] = true
	}
	for k, v := range p.samples {
		if _, ok := b.errSamples[k]; !ok {
			b.errSamples[k] = v
		}
	}
	fmt.Printf(" gone in %.0f ms; first synced write accepted by %s after %.0f ms (via %s; %d sent, %d more held then accepted, last failure at %.0f ms: %v)\n",
		t.GoneMs, t.NewPrimary, t.FirstWriteMs, t.FirstVia, t.Attempts, t.Held, t.LastFailMs, t.Failed)

	// Every acknowledged write is on the new primary.
	newURL, newNodeURL := "", ""
	for _, s := range survivors {
		if s.name == t.NewPrimary {
			newURL, newNodeURL = s.url, s.nodeURL
		}
	}
	if newURL == "" {
		return t, 0, 0, fmt.Errorf("the first write was served by %q, not a surviving candidate", t.NewPrimary)
	}
	present, err := b.ids(ctx, newURL)
	if err != nil {
		return t, 0, 0, err
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

	// The killed node comes back with its own folder, as tablecast dev would.
	home := filepath.Join(b.devDir, prim.name)
	start := time.Now()
	n, err := b.startNode(prim.name, home, filepath.Join(home, "litefs.yml"), newNodeURL)
	if err != nil {
		return t, 0, 0, err
	}
	if _, err := waitAddr(ctx, filepath.Join(home, "addr.json"), n.done, 60*time.Second); err != nil {
		return t, 0, 0, fmt.Errorf("restart %s: %w (log %s)", prim.name, err, filepath.Join(home, "node.log"))
	}
	t.RestartAddrMs = ms(time.Since(start))
	rows, err = b.waitVoters(ctx, 3, 60*time.Second)
	if err != nil {
		return t, 0, 0, err
	}
	rejoin = time.Since(start)
	t.RejoinMs = ms(rejoin)
	for _, row := range rows {
		if row["name"] == prim.name {
			t.RejoinedAs = str(row["role"])
		}
		if row["role"] == "primary" && row["name"] != t.NewPrimary {
			fmt.Printf("  note: the primary moved again, to %s, while %s rejoined\n", row["name"], prim.name)
		}
	}
	fmt.Printf("  %s restarted: ready (addr file) in %.0f ms, 3 ready voters after %.0f ms, back as %s\n",
		prim.name, t.RestartAddrMs, t.RejoinMs, t.RejoinedAs)
	return t, first, rejoin, nil
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
	req.Header.Set("Authorization", "Bearer "+b.token)
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
		if err := b.getJSON(ctx, base+path, &page); err != nil {
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
	if _, err := b.post(ctx, prim.url+"/big/-/create", map[string]any{"table": "blobs", "pk": "id",
		"columns": []map[string]string{{"name": "id", "type": "integer"}, {"name": "v", "type": "text"}}}, 201); err != nil {
		return nil, err
	}
	if _, err := b.post(ctx, prim.url+"/big/blobs/-/publish", map[string]any{}, 200); err != nil {
		return nil, err
	}
	requests := max(1, mb*1_000_000/(bigRowsPerRequest*bigRowBytes))
	cu := &CatchUp{Node: "gru-1", Rows: requests * bigRowsPerRequest}
	fmt.Printf("loading %d rows of %d random bytes into big.blobs through %s (%d requests)…\n", cu.Rows, bigRowBytes, prim.name, requests)
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	buf := make([]byte, bigRowBytes)
	loadStart := time.Now()
	for r := range requests {
		rows := make([]map[string]any, bigRowsPerRequest)
		for k := range rows {
			for j := range buf {
				buf[j] = alphabet[rng.IntN(len(alphabet))]
			}
			rows[k] = map[string]any{"id": r*bigRowsPerRequest + k + 1, "v": string(buf)}
		}
		if _, err := b.post(ctx, prim.url+"/big/blobs/-/insert", map[string]any{"rows": rows}, 201); err != nil {
			return nil, err
		}
		if (r+1)%20 == 0 {
			fmt.Printf("  %d/%d requests, %.0f s\n", r+1, requests, time.Since(loadStart).Seconds())
		}
	}
	cu.LoadS = time.Since(loadStart).Seconds()
	cu.MB = float64(cu.Rows*bigRowBytes) / 1e6
	var st struct {
		TXIDs map[string]string `json:"txids"`
	}
	if err := b.getJSON(ctx, prim.url+"/-/status.json", &st); err != nil {
		return nil, err
	}
	cu.PrimaryTXID = st.TXIDs["big"]
	if fi, err := os.Stat(filepath.Join(b.devDir, prim.name, "fuse", tablecast.DBFileName("big"))); err == nil {
		cu.DBFileMB = float64(fi.Size()) / 1e6
	}
	fmt.Printf("  loaded %.0f MB in %.1f s; big is at TXID %s on %s (database file %.0f MB)\n", cu.MB, cu.LoadS, cu.PrimaryTXID, prim.name, cu.DBFileMB)

	// The new node: syd-1's config with a new name, region, folders and
	// raft address; the join URL, cluster token and tokens stay.
	home := filepath.Join(b.c.dir, cu.Node)
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	cfg, err := newReplicaConfig(filepath.Join(b.devDir, "syd-1"), home, cu.Node, "gru")
	if err != nil {
		return nil, err
	}
	// Its own node certificate, from the dev cluster's CA (DIR/tls).
	tlsDir := filepath.Join(b.devDir, "tls")
	if out, err := exec.Command(b.bin, "cert", "node", "-ca-dir", tlsDir, "-name", cu.Node, "-host", "127.0.0.1", "-out", tlsDir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("certificate for %s: %w: %s", cu.Node, err, out)
	}
	cfgPath := filepath.Join(home, "litefs.yml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return nil, err
	}
	fmt.Printf("starting a new replica %s (region gru) joining through %s…\n", cu.Node, prim.name)
	start := time.Now()
	n, err := b.startNode(cu.Node, home, cfgPath, prim.nodeURL)
	if err != nil {
		return nil, err
	}
	addr, err := waitAddr(ctx, filepath.Join(home, "addr.json"), n.done, 5*time.Minute)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (log %s)", cu.Node, err, filepath.Join(home, "node.log"))
	}
	cu.AddrMs = ms(time.Since(start))
	fmt.Printf("  %s ready (addr file) after %.0f ms\n", cu.Node, cu.AddrMs)
	deadline := time.Now().Add(5 * time.Minute)
	for cu.FirstReadMs == 0 || cu.TXIDMs == 0 {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: read %.0f ms, TXID match %.0f ms (have %s, want %s) after 5 minutes", cu.Node, cu.FirstReadMs, cu.TXIDMs, cu.TXID, cu.PrimaryTXID)
		}
		if cu.FirstReadMs == 0 {
			if resp, err := b.client.Get(addr.APIURL + "/big/blobs/1.json"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					cu.FirstReadMs = ms(time.Since(start))
				}
			}
		}
		if cu.TXIDMs == 0 {
			var st struct {
				TXIDs map[string]string `json:"txids"`
			}
			if err := b.getJSON(ctx, addr.APIURL+"/-/status.json", &st); err == nil {
				if cu.TXID = st.TXIDs["big"]; cu.TXID == cu.PrimaryTXID {
					cu.TXIDMs = ms(time.Since(start))
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	var db struct {
		Tables []struct {
			Name  string `json:"name"`
			Count int    `json:"count"`
		} `json:"tables"`
	}
	if err := b.getJSON(ctx, addr.APIURL+"/big.json", &db); err != nil {
		return nil, err
	}
	for _, t := range db.Tables {
		if t.Name == "blobs" {
			cu.RowCount = t.Count
		}
	}
	fmt.Printf("  first 200 of /big/blobs/1.json after %.0f ms; TXID %s (primary %s) after %.0f ms; %d rows\n",
		cu.FirstReadMs, cu.TXID, cu.PrimaryTXID, cu.TXIDMs, cu.RowCount)
	if cu.RowCount != cu.Rows {
		return nil, fmt.Errorf("%s shows %d rows of big.blobs, want %d", cu.Node, cu.RowCount, cu.Rows)
	}
	stop := time.Now()
	if err := stopNode(n, 30*time.Second); err != nil {
		return nil, err
	}
	cu.StopMs = ms(time.Since(stop))
	cu.Unmounted = !isMounted(n.fuseDir)
	delete(b.own, n.name)
	fmt.Printf("  %s stopped in %.0f ms, FUSE unmounted: %v\n", cu.Node, cu.StopMs, cu.Unmounted)
	if !cu.Unmounted {
		return cu, fmt.Errorf("%s's FUSE folder %s still mounted after it stopped", cu.Node, n.fuseDir)
	}
	return cu, nil
}

// newReplicaConfig is from's litefs.yml for a node called name in region,
// with its folders under home and a free raft address.
func newReplicaConfig(from, home, name, region string) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(from, "litefs.yml"))
	if err != nil {
		return nil, err
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	s := string(raw)
	old := filepath.Base(from)
	for _, rep := range []struct{ re, to string }{
		{`(?m)^(\s+dir:\s*)"` + regexp.QuoteMeta(filepath.Join(from, "fuse")) + `"`, `${1}"` + filepath.Join(home, "fuse") + `"`},
		{`(?m)^(\s+dir:\s*)"` + regexp.QuoteMeta(filepath.Join(from, "data")) + `"`, `${1}"` + filepath.Join(home, "data") + `"`},
		{`(?m)^(\s+name:\s*)"` + regexp.QuoteMeta(old) + `"`, `${1}"` + name + `"`},
		{`(?m)^(\s+region:\s*)"[^"]*"`, `${1}"` + region + `"`},
		{`(?m)^(\s+raft-addr:\s*)"[^"]*"`, `${1}"127.0.0.1:` + strconv.Itoa(port) + `"`},
		{`(?m)^(\s+cert:\s*".*/)` + regexp.QuoteMeta(old) + `\.crt"`, `${1}` + name + `.crt"`},
		{`(?m)^(\s+key:\s*".*/)` + regexp.QuoteMeta(old) + `\.key"`, `${1}` + name + `.key"`},
	} {
		re := regexp.MustCompile(rep.re)
		if !re.MatchString(s) {
			return nil, fmt.Errorf("%s/litefs.yml: no line matches %s", from, rep.re)
		}
		s = re.ReplaceAllString(s, rep.to)
	}
	return []byte("# " + name + ": copied from " + old + "'s by the failover benchmark\n" + s), nil
}

// startNode runs `serve` as tablecast dev does: the cluster's token in
// the environment, output appended to node.log, its own process group,
// SIGTERM if this process dies.
func (b *failoverBench) startNode(name, home, cfgPath, join string) (*ownNode, error) {
	addrPath := filepath.Join(home, "addr.json")
	_ = os.Remove(addrPath)
	logf, err := os.OpenFile(filepath.Join(home, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(b.bin, "serve", "-config", cfgPath, "-addr-file", addrPath, "-join", join)
	cmd.Env = append(os.Environ(), "TABLECAST_DEV_TOKEN="+b.token)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	n := &ownNode{name: name, home: home, fuseDir: filepath.Join(home, "fuse"), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(n.done) }()
	b.own[name] = n
	return n, nil
}

// stopNode sends SIGTERM and waits; past timeout it kills the node and
// aborts its FUSE connection.
func stopNode(n *ownNode, timeout time.Duration) error {
	select {
	case <-n.done:
	default:
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(timeout):
			_ = n.cmd.Process.Kill()
			_ = fsmount.AbortFUSE(n.fuseDir)
			<-n.done
			return fmt.Errorf("%s did not stop within %s of SIGTERM: killed", n.name, timeout)
		}
	}
	if isMounted(n.fuseDir) {
		// It died and left a mount no one serves.
		return errors.Join(fmt.Errorf("%s left %s mounted", n.name, n.fuseDir), fsmount.AbortFUSE(n.fuseDir))
	}
	return nil
}

// cleanup stops the nodes started here, then the dev cluster (resumed
// first), checks no FUSE mount is left and removes the folders unless
// the run failed.
func (b *failoverBench) cleanup(failed bool) error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range b.own {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stopNode(n, 20*time.Second); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	p := b.c.cmd.Process
	_ = p.Signal(syscall.SIGTERM)
	_ = p.Signal(syscall.SIGCONT)
	_ = b.c.cmd.Wait()
	for _, m := range mountsUnder(b.c.dir) {
		errs = append(errs, fmt.Errorf("FUSE mount %s left after the cluster stopped", m), fsmount.AbortFUSE(m))
	}
	err := errors.Join(errs...)
	if failed || err != nil || b.c.Keep {
		fmt.Printf("cluster logs and data kept in %s\n", b.c.dir)
	} else {
		_ = os.RemoveAll(b.c.dir)
	}
	if err == nil {
		fmt.Println("cluster stopped, no FUSE mount left")
	}
	return err
}

type primaryNode struct{ name, url, nodeURL string }

// primary is the node /-/cluster.json names primary.
func (b *failoverBench) primary(ctx context.Context) (primaryNode, error) {
	rows, err := b.clusterStatus(ctx, "")
	if err != nil {
		return primaryNode{}, err
	}
	for _, row := range rows {
		if row["role"] == "primary" {
			return primaryNode{name: str(row["name"]), url: strings.TrimSuffix(str(row["api_url"]), "/"), nodeURL: strings.TrimSuffix(str(row["node_url"]), "/")}, nil
		}
	}
	return primaryNode{}, fmt.Errorf("no primary in /-/cluster.json: %v", rows)
}

// clusterStatus asks the first node that answers (skip excepted) for
// /-/cluster.json and returns its node rows.
func (b *failoverBench) clusterStatus(ctx context.Context, skip string) ([]map[string]any, error) {
	var last error
	for _, n := range b.nodes {
		if n.Name == skip {
			continue
		}
		a, err := b.readAddr(n.Name)
		if err != nil {
			last = err
			continue
		}
		var out struct {
			Nodes []map[string]any `json:"nodes"`
		}
		if last = b.getJSON(ctx, a.APIURL+"/-/cluster.json", &out); last == nil {
			return out.Nodes, nil
		}
	}
	return nil, fmt.Errorf("no node answered /-/cluster.json: %w", last)
}

// waitVoters waits until /-/cluster.json shows want ready voters.
func (b *failoverBench) waitVoters(ctx context.Context, want int, timeout time.Duration) ([]map[string]any, error) {
	deadline := time.Now().Add(timeout)
	var rows []map[string]any
	var err error
	for time.Now().Before(deadline) {
		if rows, err = b.clusterStatus(ctx, ""); err == nil {
			voters := 0
			for _, r := range rows {
				if r["raft"] == "voter" && r["ready"] == true {
					voters++
				}
			}
			if voters == want {
				return rows, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("not %d ready voters after %s: %v %v", want, timeout, rows, err)
}

// readAddr reads a dev node's addr.json.
func (b *failoverBench) readAddr(name string) (addrFile, error) {
	var a addrFile
	raw, err := os.ReadFile(filepath.Join(b.devDir, name, "addr.json"))
	if err != nil {
		return a, err
	}
	return a, json.Unmarshal(raw, &a)
}

// post sends a JSON write with the token and wants status back.
func (b *failoverBench) post(ctx context.Context, url string, body any, want int) (map[string]any, error) {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	if resp.StatusCode != want {
		return m, fmt.Errorf("POST %s: %s: %.300s", url, resp.Status, out)
	}
	return m, nil
}

// getJSON GETs url with the token and decodes a 200 answer into v.
func (b *failoverBench) getJSON(ctx context.Context, url string, v any) error {
	resp, err := getAuthed(ctx, b.client, url, b.token)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s: %.300s", url, resp.Status, raw)
	}
	return json.Unmarshal(raw, v)
}

// waitAddr polls for an addr file until timeout or the process exits.
func waitAddr(ctx context.Context, path string, exited <-chan struct{}, timeout time.Duration) (addrFile, error) {
	var a addrFile
	deadline := time.After(timeout)
	for {
		if raw, err := os.ReadFile(path); err == nil {
			return a, json.Unmarshal(raw, &a)
		}
		select {
		case <-ctx.Done():
			return a, ctx.Err()
		case <-exited:
			return a, errors.New("node exited before it was ready")
		case <-deadline:
			return a, fmt.Errorf("no addr file after %s", timeout)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitGone waits until pid has exited: no such process, or a zombie with
// no thread left (a killed node of the paused dev process is not reaped).
func waitGone(ctx context.Context, pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !pidGone(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d still alive %s after SIGKILL", pid, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

func pidGone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return true
	}
	s := string(raw)
	return strings.Contains(s, "\nState:\tZ") && strings.Contains(s, "\nThreads:\t1\n")
}

// isMounted reports whether dir is a mount point.
func isMounted(dir string) bool {
	for _, m := range mountsUnder(dir) {
		if m == dir {
			return true
		}
	}
	return false
}

// mountsUnder lists the FUSE mount points at or under dir.
func mountsUnder(dir string) []string {
	raw, _ := os.ReadFile("/proc/mounts")
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && strings.HasPrefix(f[2], "fuse") && (f[1] == dir || strings.HasPrefix(f[1], dir+"/")) {
			out = append(out, f[1])
		}
	}
	return out
}

// freeLoopbackPort picks a free loopback port for a raft address.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
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

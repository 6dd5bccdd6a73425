package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// faultRounds is how many freezes TestFault_SyncWritesSurviveFailover
// runs: 3 by default (CI, about a minute), TABLECAST_FAULT_ROUNDS for a
// longer campaign (the one that found issue 14 ran 25).
func faultRounds(tb testing.TB) int {
	if v := os.Getenv("TABLECAST_FAULT_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			tb.Fatalf("TABLECAST_FAULT_ROUNDS=%q: want a positive number", v)
		}
		return n
	}
	return 3
}

// faultWrite is one write a writer sent and what it was told.
type faultWrite struct {
	id     int64
	value  string
	sync   bool
	status int
	synced bool // answered 201 with "synced": true
	acked  bool // answered 201
	at     time.Time
}

// faultWriter sends inserts of unique rows, one at a time, to its targets
// in turn, and remembers every answer.
type faultWriter struct {
	name    string
	targets func() []string
	sync    bool
	token   string
	next    int64 // id of its next row (disjoint ranges per writer)

	mu     sync.Mutex
	writes []faultWrite
}

func (w *faultWriter) run(ctx context.Context) {
	// Short: a request stuck on a frozen primary would hide how soon
	// another one takes writes (it counts as unacknowledged).
	client := &http.Client{Timeout: 2 * time.Second}
	for i := 0; ctx.Err() == nil; i++ {
		targets := w.targets()
		base := targets[i%len(targets)]
		id := w.next
		w.next++
		fw := faultWrite{id: id, value: fmt.Sprintf("%s-%d-%x", w.name, id, rand.Uint32()), sync: w.sync}
		q := ""
		if w.sync {
			q = "?_sync=1"
		}
		resp, out, err := trySend(client, base+"/fault/t/-/insert"+q, w.token, fmt.Sprintf(`{"row":{"id":%d,"v":%q}}`, id, fw.value))
		fw.at = time.Now()
		if err == nil {
			fw.status = resp.StatusCode
			fw.acked = resp.StatusCode == http.StatusCreated
			fw.synced = fw.acked && out["synced"] == true
			if resp.StatusCode == http.StatusInternalServerError {
				fw.value += fmt.Sprintf(" (500: %v)", out)
			}
		}
		w.mu.Lock()
		w.writes = append(w.writes, fw)
		w.mu.Unlock()
		if err != nil || !fw.acked {
			select { // pace retries while no primary answers
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// TestFault_SyncWritesSurviveFailover is issue 14's fault campaign: three
// candidates and a replica take `_sync=1` writes (through candidates and
// through the replica) and plain writes while the primary is frozen with
// SIGSTOP for 3 s and resumed, round after round, and a primary and a
// candidate are killed with SIGKILL and restarted. At the end every write
// answered "synced": true must be on every node with its exact value, and
// no node may have exited on its own.
func TestFault_SyncWritesSurviveFailover(t *testing.T) {
	rounds := faultRounds(t)
	c := MustStartClusterWith(t, func(c *devCluster) {
		c.Regions, c.Candidates = []string{"lhr", "syd"}, 3
	})
	waitVoters(t, c, c.Nodes[0].APIURL, 3)
	if resp, out := send(t, http.DefaultClient, c.Nodes[0].APIURL+"/fault/-/create", c.Token,
		`{"table":"t","pk":"id","columns":[{"name":"id","type":"integer"},{"name":"v","type":"text"}]}`); resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, out)
	}
	if resp, out := send(t, http.DefaultClient, c.Nodes[0].APIURL+"/fault/t/-/publish", c.Token, `{}`); resp.StatusCode != 200 {
		t.Fatalf("publish: %d %v", resp.StatusCode, out)
	}

	// Writers see the nodes through view: c.Nodes changes on restart, on
	// the test's goroutine only.
	var view atomic.Pointer[[]ClusterNode]
	publish := func() { nodes := slices.Clone(c.Nodes); view.Store(&nodes) }
	publish()
	urls := func(pick func(ClusterNode) bool) func() []string {
		return func() []string {
			var out []string
			for _, n := range *view.Load() {
				if pick(n) {
					out = append(out, n.APIURL)
				}
			}
			return out
		}
	}
	candidates, replicas := urls(func(n ClusterNode) bool { return n.Candidate }), urls(func(n ClusterNode) bool { return !n.Candidate })
	writers := []*faultWriter{
		{name: "sync-cand", targets: candidates, sync: true, next: 1},
		{name: "sync-repl", targets: replicas, sync: true, next: 1_000_000},
		{name: "async", targets: candidates, next: 2_000_000},
	}
	ctx, stopWriters := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, w := range writers {
		w.token = c.Token
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx) }()
	}
	defer stopWriters()

	// Faults: a freeze of the primary every round; a SIGKILL of the
	// primary in round 2 and of a candidate follower in round 3 (then every
	// fourth round), each restarted.
	var recoveries []time.Duration
	for round := 1; round <= rounds; round++ {
		time.Sleep(time.Second) // writes flow before each fault
		p := c.Nodes[primaryIndex(t, c)]
		start := time.Now()
		if err := syscall.Kill(p.PID, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		if err := syscall.Kill(p.PID, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		d := firstWriteAfter(t, writers, start)
		recoveries = append(recoveries, d)
		t.Logf("round %d: froze %s for 3 s; first write acknowledged %s after the freeze began", round, p.Name, d.Round(time.Millisecond))
		switch {
		case round == 2:
			killRestart(t, c, primaryIndex(t, c))
			publish()
		case round%4 == 3:
			killRestart(t, c, followerCandidate(t, c))
			publish()
		}
	}
	time.Sleep(time.Second)
	stopWriters()
	wg.Wait()

	// Every node alive (none exited on its own), caught up, and holding
	// every synchronous write.
	nodes := c.Nodes
	for _, n := range nodes {
		if err := syscall.Kill(n.PID, 0); err != nil {
			b, _ := os.ReadFile(n.Log)
			t.Errorf("%s (pid %d) is not running: %v; log tail:\n%s", n.Name, n.PID, err, tail(b, 40))
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	settle(t, c, nodes)
	rows := map[string]map[int64]string{}
	for _, n := range nodes {
		rows[n.Name] = readAllRows(t, n.APIURL)
	}
	var syncAcked, asyncAcked, asyncLost, unacked, status500 int
	for _, w := range writers {
		for _, fw := range w.writes {
			switch {
			case fw.status == http.StatusInternalServerError:
				status500++
				t.Errorf("write %d answered a bare 500: %s", fw.id, fw.value)
			case fw.synced:
				syncAcked++
				for _, n := range nodes {
					if got, ok := rows[n.Name][fw.id]; !ok || got != fw.value {
						t.Errorf("synced write %d (%s at %s) on %s: %q, present %v", fw.id, fw.value, fw.at.Format("15:04:05.000"), n.Name, got, ok)
					}
				}
			case fw.acked && !fw.sync:
				asyncAcked++
				if got, ok := rows[nodes[0].Name][fw.id]; !ok || got != fw.value {
					asyncLost++
				}
			case !fw.acked:
				unacked++
			}
		}
	}
	slices.Sort(recoveries)
	t.Logf("figures: %d rounds; synced writes acknowledged %d, async acknowledged %d (lost %d), refused or unconfirmed %d; first write after a freeze: min %s, median %s, max %s",
		rounds, syncAcked, asyncAcked, asyncLost, unacked,
		recoveries[0].Round(time.Millisecond), recoveries[len(recoveries)/2].Round(time.Millisecond), recoveries[len(recoveries)-1].Round(time.Millisecond))
	if syncAcked == 0 {
		t.Fatal("no synchronous write was acknowledged: the test proved nothing")
	}
}

// primaryIndex is the index in c.Nodes of the node that says it is the
// primary, waiting up to 30 s for one.
func primaryIndex(tb testing.TB, c *devCluster) int {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range c.Nodes {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := callJSON(ctx, http.MethodGet, n.APIURL+"/-/status.json", c.Token, nil)
			cancel()
			if err == nil && st["role"] == "primary" {
				return i
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatal("no primary within 30 s")
	return -1
}

// followerCandidate is the index of a candidate that is not the primary.
func followerCandidate(tb testing.TB, c *devCluster) int {
	p := primaryIndex(tb, c)
	for i, n := range c.Nodes {
		if n.Candidate && i != p {
			return i
		}
	}
	tb.Fatal("no candidate follower")
	return -1
}

// killRestart kills node i with SIGKILL and starts it again.
func killRestart(tb testing.TB, c *devCluster, i int) {
	tb.Helper()
	n := c.Nodes[i]
	var join string
	for j, o := range c.Nodes {
		if j != i {
			join = o.APIURL
		}
	}
	start := time.Now()
	mustKill(tb, n)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Restart(ctx, i, join); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("killed %s with SIGKILL and restarted it (%s)", n.Name, time.Since(start).Round(time.Millisecond))
}

// firstWriteAfter waits (up to 30 s) for a write acknowledged after start
// and returns how long after start it was.
func firstWriteAfter(tb testing.TB, writers []*faultWriter, start time.Time) time.Duration {
	tb.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		first := time.Time{}
		for _, w := range writers {
			w.mu.Lock()
			for _, fw := range slices.Backward(w.writes) {
				if fw.at.Before(start) {
					break
				}
				if fw.acked && (first.IsZero() || fw.at.Before(first)) {
					first = fw.at
				}
			}
			w.mu.Unlock()
		}
		if !first.IsZero() && time.Since(start) > 3*time.Second {
			return first.Sub(start)
		}
	}
	tb.Fatal("no write acknowledged within 30 s of a freeze")
	return 0
}

// settle waits until every node has the primary's TXID of the database.
func settle(tb testing.TB, c *devCluster, nodes []ClusterNode) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var txids []string
		for _, n := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := callJSON(ctx, http.MethodGet, n.APIURL+"/-/status.json", c.Token, nil)
			cancel()
			if err != nil {
				txids = append(txids, "?")
				continue
			}
			m, _ := st["txids"].(map[string]any)
			txids = append(txids, fmt.Sprint(m["fault"]))
		}
		same := true
		for _, x := range txids {
			same = same && x == txids[0] && x != "?"
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("nodes did not converge within 30 s: %v", txids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readAllRows reads every row of fault.t from one node, page by page.
func readAllRows(tb testing.TB, base string) map[int64]string {
	tb.Helper()
	rows := map[int64]string{}
	next := ""
	for {
		u := base + "/fault/t.json?_size=1000"
		if next != "" {
			u += "&_next=" + url.QueryEscape(next)
		}
		status, _, body := get(tb, u)
		if status != 200 {
			tb.Fatalf("GET %s: %d %v", u, status, body)
		}
		list, _ := body["rows"].([]any)
		for _, r := range list {
			m := r.(map[string]any)
			rows[int64(m["id"].(float64))] = fmt.Sprint(m["v"])
		}
		if body["next"] == nil || len(list) == 0 {
			return rows
		}
		next = fmt.Sprint(body["next"])
	}
}

// tail is the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
)

// clusterAnswers serves /-/cluster.json: the i-th question gets answers[i]
// (the last one from then on); a nil answer is a 503.
type clusterAnswers struct {
	t       *testing.T
	answers []*tablecast.ClusterStatus
	mu      sync.Mutex
	asked   int
}

func (c *clusterAnswers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/-/cluster.json" || r.Header.Get("Authorization") != "Bearer admin-secret" {
		c.t.Errorf("asked %s with %q", r.URL, r.Header.Get("Authorization"))
	}
	c.mu.Lock()
	a := c.answers[min(c.asked, len(c.answers)-1)]
	c.asked++
	c.mu.Unlock()
	if a == nil {
		tablecast.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"ok": false, "error": "raft: no leader"})
		return
	}
	tablecast.WriteJSON(w, http.StatusOK, a)
}

func (c *clusterAnswers) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asked
}

// clusterRow is a row of /-/cluster.json: txids nil when it did not answer.
func clusterRow(name, region string, txids map[string]string) tablecast.ClusterNode {
	n := tablecast.ClusterNode{Name: name, Region: region, Reachable: txids != nil}
	if txids != nil {
		n.Reported = &tablecast.Reported{Role: "replica", TXIDs: txids}
	} else {
		n.Error = "connection refused"
	}
	return n
}

func clusterAnswer(nodes ...tablecast.ClusterNode) *tablecast.ClusterStatus {
	return &tablecast.ClusterStatus{OK: true, Lease: "raft", Nodes: nodes}
}

func newApplyWait(t *testing.T, answers ...*tablecast.ClusterStatus) (*applyWait, *clusterAnswers, *strings.Builder) {
	srv := &clusterAnswers{t: t, answers: answers}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	out := &strings.Builder{}
	return &applyWait{client: ts.Client(), base: ts.URL + "/", token: "admin-secret", db: "shop", txid: 5,
		interval: time.Millisecond, out: out}, srv, out
}

func TestImportWait_AppliedAsNodesReport(t *testing.T) {
	aw, srv, out := newApplyWait(t,
		nil, // the node cannot ask the cluster, once
		clusterAnswer(clusterRow("a", "fra", map[string]string{"shop": "0000000000000005"}),
			clusterRow("b", "syd", map[string]string{"shop": "0000000000000004", "other": "00000000000000ff"}),
			clusterRow("c", "iad", nil)),
		clusterAnswer(clusterRow("a", "fra", map[string]string{"shop": "0000000000000005"}),
			clusterRow("b", "syd", map[string]string{"shop": "0000000000000007"}), // later writes too
			clusterRow("c", "iad", nil)),
		clusterAnswer(clusterRow("a", "fra", map[string]string{"shop": "0000000000000005"}),
			clusterRow("b", "syd", map[string]string{"shop": "0000000000000007"}),
			clusterRow("c", "iad", map[string]string{"shop": "5"})), // exactly the import's TXID
	)
	seen := map[string]bool{"a": true, "b": false} // a applied it in the primary's answer
	if err := aw.run(context.Background(), time.Minute, seen); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "  (cannot ask " + aw.base + "-/cluster.json: GET " + aw.base + "-/cluster.json: 503 Service Unavailable: " +
		`{"error":"raft: no leader","ok":false}; still waiting)` + "\n" +
		"  applied on b (syd): TXID 0000000000000007\n" +
		"  applied on c (iad): TXID 0000000000000005\n" +
		"applied on every node (3)\n"
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out, want)
	}
	if n := srv.count(); n != 4 {
		t.Fatalf("asked %d times, want 4 (it stops at the first answer with every node)", n)
	}
}

func TestImportWait_AlreadyEverywhere(t *testing.T) {
	aw, srv, out := newApplyWait(t, clusterAnswer(clusterRow("a", "fra", map[string]string{"shop": "0000000000000009"})))
	if err := aw.run(context.Background(), time.Minute, map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "  applied on a (fra): TXID 0000000000000009\napplied on every node (1)\n" || srv.count() != 1 {
		t.Fatalf("asked %d times, output:\n%s", srv.count(), got)
	}
}

func TestImportWait_TimesOut(t *testing.T) {
	aw, srv, out := newApplyWait(t,
		clusterAnswer(clusterRow("a", "fra", map[string]string{"shop": "0000000000000005"}),
			clusterRow("b", "syd", map[string]string{"shop": "0000000000000004"}),
			clusterRow("c", "iad", nil), clusterRow("d", "gru", nil)),
		clusterAnswer(clusterRow("a", "fra", map[string]string{"shop": "0000000000000005"}),
			clusterRow("b", "syd", map[string]string{"shop": "0000000000000004"}),
			clusterRow("c", "iad", map[string]string{}), // answers, without the database yet
			clusterRow("d", "gru", nil)),
	)
	err := aw.run(context.Background(), 30*time.Millisecond, map[string]bool{"a": true})
	if !errors.Is(err, errNotApplied) {
		t.Fatalf("error %v, want errNotApplied\n%s", err, out)
	}
	for _, s := range []string{"shop is imported (TXID 0000000000000005)", "within -wait 30ms", "lacking b, c, d"} {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q lacks %q", err, s)
		}
	}
	want := "NOT applied on every node within -wait 30ms (the import itself is done: TXID 0000000000000005):\n" +
		"  b (syd): pending 0000000000000004\n" +
		"  c (iad): pending\n" +
		"  d (gru): unreachable connection refused\n"
	if out.String() != want {
		t.Fatalf("output:\n%q\nwant:\n%q", out, want)
	}
	if srv.count() < 2 {
		t.Fatalf("asked %d times in 30ms at 1ms intervals", srv.count())
	}
}

func TestImportWait_ClusterNeverAnswers(t *testing.T) {
	aw, _, out := newApplyWait(t, nil)
	err := aw.run(context.Background(), 20*time.Millisecond, map[string]bool{})
	if !errors.Is(err, errNotApplied) || !strings.Contains(err.Error(), "no answer from the cluster: GET") {
		t.Fatalf("error %v\n%s", err, out)
	}
	// The error was said once, not at every question.
	if n := strings.Count(out.String(), "cannot ask"); n != 1 {
		t.Fatalf("said %d times:\n%s", n, out)
	}
	if !strings.Contains(out.String(), "last question to the cluster: GET") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestImportWait_Interrupted(t *testing.T) {
	aw, _, out := newApplyWait(t, clusterAnswer(clusterRow("b", "syd", nil)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := aw.run(ctx, time.Minute, map[string]bool{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, errNotApplied) || !strings.Contains(err.Error(), "shop is imported") {
		t.Fatalf("error %v\n%s", err, out)
	}
}

package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/deploy/devcluster"
)

// nodePos is a node's position of db from /-/status.json.
func nodePos(tb testing.TB, c *devcluster.Cluster, base, db string) tablecast.Pos {
	tb.Helper()
	st, err := callJSON(context.Background(), cliClient, http.MethodGet, base+"/-/status.json", c.Token, nil)
	if err != nil {
		tb.Fatal(err)
	}
	s, _ := st["positions"].(map[string]any)[db].(string)
	txid, sum, ok := strings.Cut(s, "/")
	if !ok {
		tb.Fatalf("no position of %s in %v", db, st)
	}
	t, err := tablecast.ParseTXID(txid)
	if err != nil {
		tb.Fatal(err)
	}
	cs, err := tablecast.ParseChecksum(sum)
	if err != nil {
		tb.Fatal(err)
	}
	return tablecast.Pos{TXID: t, Checksum: cs}
}

// waitPosStatus asks base to confirm pos of db and returns the status.
func waitPosStatus(tb testing.TB, c *devcluster.Cluster, base, db string, pos tablecast.Pos, timeout time.Duration) int {
	tb.Helper()
	u := fmt.Sprintf("%s/-/wait?db=%s&txid=%s&checksum=%016x&timeout=%s", base, db, pos.TXID, pos.Checksum, timeout)
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A candidate confirms a position (TXID and checksum), not a TXID: yes
// when its history passes through it (at it, or past it with that
// checksum at that TXID), no at once when it has another checksum there,
// and not yet while it is behind. Also measures what a synchronous write
// costs over a plain one (confirmation + raft record).
func TestSync_ConfirmationComparesPositions(t *testing.T) {
	c := devcluster.MustStart(t, binPath, func(o *devcluster.Options) {
		o.Regions, o.Candidates = []string{"lhr", "syd"}, 2
	})
	devcluster.MustWaitVoters(t, c, c.Nodes[0].APIURL, 2)
	sendSetup(t, c, c.Nodes[0].APIURL+"/pos/-/create", `{"table":"t","pk":"id","columns":[{"name":"id","type":"integer"},{"name":"v","type":"text"}]}`, 201)
	prim, cand := c.Nodes[0], c.Nodes[1]
	if primaryIndex(t, c) == 1 {
		prim, cand = cand, prim
	}
	if out := sendSetup(t, c, prim.APIURL+"/pos/t/-/insert?_sync=1", `{"row":{"id":1,"v":"a"}}`, 201); out["synced"] != true {
		t.Fatalf("sync insert: %v", out)
	}
	p1 := nodePos(t, c, prim.APIURL, "pos")
	for i := 2; i <= 4; i++ {
		if resp, out := send(t, http.DefaultClient, prim.APIURL+"/pos/t/-/insert", c.Token, fmt.Sprintf(`{"row":{"id":%d,"v":"b"}}`, i)); resp.StatusCode != 201 {
			t.Fatalf("insert: %d %v", resp.StatusCode, out)
		}
	}
	cur := nodePos(t, c, prim.APIURL, "pos")
	if cur.TXID != p1.TXID+3 {
		t.Fatalf("position %s after three writes past %s", cur, p1)
	}
	for _, tc := range []struct {
		name    string
		pos     tablecast.Pos
		timeout time.Duration
		want    int
	}{
		{"current position", cur, 5 * time.Second, 200},
		{"earlier position on the same history", p1, time.Second, 200},
		{"earlier TXID, another checksum", tablecast.Pos{TXID: p1.TXID, Checksum: p1.Checksum ^ 1}, 5 * time.Second, 409},
		{"current TXID, another checksum", tablecast.Pos{TXID: cur.TXID, Checksum: cur.Checksum ^ 1}, 5 * time.Second, 409},
		{"ahead", tablecast.Pos{TXID: cur.TXID + 100, Checksum: 1}, 200 * time.Millisecond, 504},
	} {
		if got := waitPosStatus(t, c, cand.APIURL, "pos", tc.pos, tc.timeout); got != tc.want {
			t.Errorf("%s (%s, candidate at %s): %d, want %d", tc.name, tc.pos, nodePos(t, c, cand.APIURL, "pos"), got, tc.want)
		}
	}

	// What a synchronous write costs: sequential writes on a quiet cluster.
	// A failover in between (loaded machine) leaves answers out, not the test.
	latency := func(sync bool) (p50, p90 time.Duration) {
		var ds []time.Duration
		other := 0
		for i := range 200 {
			q := ""
			if sync {
				q = "?_sync=1"
			}
			start := time.Now()
			resp, out := send(t, http.DefaultClient, prim.APIURL+"/pos/t/-/upsert"+q, c.Token, fmt.Sprintf(`{"row":{"id":%d,"v":"c"}}`, 100+i))
			if resp.StatusCode != 200 || (sync && out["synced"] != true) {
				other++
				continue
			}
			ds = append(ds, time.Since(start))
		}
		if len(ds) < 100 {
			t.Fatalf("%d of 200 writes failed", other)
		}
		slices.Sort(ds)
		return ds[len(ds)/2], ds[len(ds)*9/10]
	}
	a50, a90 := latency(false)
	s50, s90 := latency(true)
	t.Logf("write latency, 200 sequential writes: plain p50 %s p90 %s; _sync=1 p50 %s p90 %s",
		a50.Round(10*time.Microsecond), a90.Round(10*time.Microsecond), s50.Round(10*time.Microsecond), s90.Round(10*time.Microsecond))
}

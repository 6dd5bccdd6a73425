package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// clusterStatus fetches /-/cluster.json with the cluster's token.
func clusterStatus(tb testing.TB, c *devCluster, base string) map[string]any {
	tb.Helper()
	out, err := callJSON(context.Background(), http.MethodGet, base+"/-/cluster.json", c.Token, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// waitVoters waits until raft counts n voters that all report ready.
func waitVoters(tb testing.TB, c *devCluster, base string, n int) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		voters := 0
		for _, row := range clusterStatus(tb, c, base)["nodes"].([]any) {
			r := row.(map[string]any)
			if r["raft"] == "voter" && r["ready"] == true {
				voters++
			}
		}
		if voters == n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("not %d ready voters after 30s: %v", n, clusterStatus(tb, c, base))
}

func TestCluster_Failover(t *testing.T) {
	c := MustStartClusterWith(t, func(c *devCluster) {
		c.Regions, c.Candidates = []string{"lhr", "syd"}, 3
	})
	lhr1, lhr2, lhr3, syd := c.Nodes[0], c.Nodes[1], c.Nodes[2], c.Nodes[3]
	waitVoters(t, c, lhr1.APIURL, 3)
	if resp, out := send(t, http.DefaultClient, syd.APIURL+"/fo/-/create", c.Token, `{"table":"t","pk":"id","columns":[{"name":"id","type":"integer"},{"name":"v","type":"text"}]}`); resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, out)
	}
	send(t, http.DefaultClient, lhr1.APIURL+"/fo/t/-/publish", c.Token, `{}`)

	// Synchronous writes, acknowledged once another candidate has them.
	const acked = 50
	for i := range acked {
		resp, out := send(t, http.DefaultClient, lhr1.APIURL+"/fo/t/-/insert?_sync=1", c.Token, fmt.Sprintf(`{"row":{"id":%d,"v":"before"}}`, i))
		if resp.StatusCode != 201 || out["synced"] != true {
			t.Fatalf("sync insert %d: %d %v", i, resp.StatusCode, out)
		}
	}

	// Kill the primary; a candidate must take over and accept writes.
	killed := time.Now()
	mustKill(t, lhr1)
	var newPrimary string
	for newPrimary == "" {
		if time.Since(killed) > 30*time.Second {
			t.Fatal("no new primary accepted a write within 30s")
		}
		for _, n := range []ClusterNode{lhr2, lhr3} {
			resp, out := send(t, noRedirect, n.APIURL+"/fo/t/-/insert?_sync=1", c.Token, `{"row":{"id":1000,"v":"after"}}`)
			if resp.StatusCode == 201 {
				newPrimary = resp.Header.Get("Tablecast-Node")
				t.Logf("first write accepted %s after SIGKILL (via %s): %v", time.Since(killed), n.Name, out)
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Every acknowledged write survived; the replica follows the new primary.
	for _, n := range []ClusterNode{lhr2, lhr3, syd} {
		waitFor(t, n.APIURL+"/fo/t/1000.json", 200, 10*time.Second)
		_, _, body := get(t, n.APIURL+"/fo.json")
		if got := fmt.Sprint(body["tables"]); !strings.Contains(got, fmt.Sprintf("count:%d", acked+1)) {
			t.Fatalf("%s after failover: %s", n.Name, got)
		}
	}
	for _, row := range clusterStatus(t, c, syd.APIURL)["nodes"].([]any) {
		r := row.(map[string]any)
		if r["role"] == "primary" && r["name"] != newPrimary {
			t.Fatalf("%s says it is primary, want %s", r["name"], newPrimary)
		}
	}

	// The old primary comes back as a replica with the same data.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Restart(ctx, 0, lhr2.APIURL); err != nil {
		t.Fatal(err)
	}
	back := c.Nodes[0]
	waitFor(t, back.APIURL+"/fo/t/1000.json", 200, 10*time.Second)
	st, err := callJSON(ctx, http.MethodGet, back.APIURL+"/-/status.json", c.Token, nil)
	if err != nil || st["role"] != "replica" {
		t.Fatalf("old primary after restart: %v %v", st, err)
	}
	_, _, body := get(t, back.APIURL+"/fo.json")
	if got := fmt.Sprint(body["tables"]); !strings.Contains(got, fmt.Sprintf("count:%d", acked+1)) {
		t.Fatalf("old primary's data after rejoining: %s", got)
	}
	// Writes sent to it reach the new primary.
	if resp, out := send(t, http.DefaultClient, back.APIURL+"/fo/t/-/insert", c.Token, `{"row":{"id":2000,"v":"via old"}}`); resp.StatusCode != 201 {
		t.Fatalf("write via the old primary: %d %v", resp.StatusCode, out)
	}
}

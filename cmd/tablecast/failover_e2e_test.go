package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// clusterStatus fetches /-/cluster.json with the cluster's token.
func clusterStatus(tb testing.TB, c *devcluster.Cluster, base string) map[string]any {
	tb.Helper()
	out, err := callJSON(context.Background(), cliClient, http.MethodGet, base+"/-/cluster.json", c.Token, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestCluster_Failover(t *testing.T) {
	c := devcluster.MustStart(t, binPath, func(o *devcluster.Options) {
		o.Regions, o.Candidates = []string{"lhr", "syd"}, 3
	})
	lhr1, lhr2, lhr3, syd := c.Nodes[0], c.Nodes[1], c.Nodes[2], c.Nodes[3]
	devcluster.MustWaitVoters(t, c, lhr1.APIURL, 3)
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
	devcluster.MustKill(t, lhr1)
	var newPrimary string
	for newPrimary == "" {
		if time.Since(killed) > 30*time.Second {
			t.Fatal("no new primary accepted a write within 30s")
		}
		for _, n := range []devcluster.ClusterNode{lhr2, lhr3} {
			resp, out := send(t, noRedirect, n.APIURL+"/fo/t/-/insert?_sync=1", c.Token, `{"row":{"id":1000,"v":"after"}}`)
			if resp.StatusCode == 201 {
				newPrimary = resp.Header.Get("Tablecast-Node")
				t.Logf("first write accepted %s after SIGKILL (via %s): %v", time.Since(killed), n.Name, out)
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Every acknowledged write survived; the replica follows the new primary,
	// and is ready again (it lost its stream: revocation-bound may have
	// stopped its reads meanwhile, but not once it streams again).
	for _, n := range []devcluster.ClusterNode{lhr2, lhr3, syd} {
		devcluster.WaitFor(t, n.APIURL+"/fo/t/1000.json", 200, 10*time.Second)
		devcluster.WaitFor(t, n.APIURL+"/-/readyz", 200, 5*time.Second)
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
	if err := c.Restart(ctx, 0, lhr2.NodeURL); err != nil {
		t.Fatal(err)
	}
	back := c.Nodes[0]
	devcluster.WaitFor(t, back.APIURL+"/fo/t/1000.json", 200, 10*time.Second)
	st, err := callJSON(ctx, cliClient, http.MethodGet, back.APIURL+"/-/status.json", c.Token, nil)
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

	t.Run("HandoffBack", func(t *testing.T) {
		devcluster.MustWaitVoters(t, c, syd.APIURL, 3)
		start := time.Now()
		if err := runPrimary(ctx, []string{"handoff", "-url", syd.APIURL, "-token", c.Token, back.Name}); err != nil {
			t.Fatal(err)
		}
		for {
			resp, out := send(t, noRedirect, syd.APIURL+"/fo/t/-/insert", c.Token, fmt.Sprintf(`{"row":{"id":%d,"v":"handoff"}}`, 3000+time.Now().UnixNano()%1000000))
			if resp.StatusCode == 201 && resp.Header.Get("Tablecast-Node") == back.Name {
				t.Logf("writes served by %s %s after the handoff began", back.Name, time.Since(start))
				break
			}
			if time.Since(start) > 15*time.Second {
				t.Fatalf("after handoff: %d %v served by %q", resp.StatusCode, out, resp.Header.Get("Tablecast-Node"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("RemoveNode", func(t *testing.T) {
		// A node is removed once stopped: a running one would join again.
		if err := syscall.Kill(syd.PID, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); syscall.Kill(syd.PID, 0) == nil; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("syd-1 did not stop")
			}
		}
		if err := runCluster(ctx, []string{"remove", "-url", lhr3.APIURL, "-token", c.Token, syd.Name}); err != nil {
			t.Fatal(err)
		}
		// lhr3 is a follower: it lists what it has applied of the
		// leader's log, which the removal reaches within a heartbeat.
		listed := func() map[string]any {
			for _, row := range clusterStatus(t, c, lhr3.APIURL)["nodes"].([]any) {
				if r := row.(map[string]any); r["name"] == syd.Name {
					return r
				}
			}
			return nil
		}
		start := time.Now()
		for r := listed(); r != nil; r = listed() {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s still listed 5 s after remove: %v", syd.Name, r)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%s gone from %s's listing %s after remove returned", syd.Name, lhr3.Name, time.Since(start).Round(time.Millisecond))
	})
}

func TestCluster_AddRegion(t *testing.T) {
	c := devcluster.MustStart(t, binPath, func(o *devcluster.Options) { o.Regions = []string{"lhr", "syd"} })
	p := c.Nodes[0].APIURL
	send(t, http.DefaultClient, p+"/data/-/create", c.Token, `{"table":"t","pk":"id","columns":[{"name":"id","type":"integer"},{"name":"v","type":"text"}]}`)
	const rows = 5000
	pad := strings.Repeat("x", 1000)
	for start := 0; start < rows; start += 1000 {
		var b strings.Builder
		for i := start; i < start+1000; i++ {
			if i > start {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"id":%d,"v":"%s"}`, i, pad)
		}
		if resp, out := send(t, http.DefaultClient, p+"/data/t/-/insert", c.Token, `{"rows":[`+b.String()+`]}`); resp.StatusCode != 201 {
			t.Fatalf("insert: %d %v", resp.StatusCode, out)
		}
	}
	send(t, http.DefaultClient, p+"/data/t/-/publish", c.Token, `{}`)

	// Watch the new node's API from before it starts: it may refuse
	// connections or answer 503 while catching up, and once it answers 200
	// it must have every row; never a 404 or a partial table.
	port, err := devcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/data.json", port)
	stop := make(chan struct{})
	seen := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 2 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			resp, err := client.Get(url)
			if err != nil {
				seen["refused"]++
				continue
			}
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			key := fmt.Sprint(resp.StatusCode)
			if resp.StatusCode == 200 && !strings.Contains(fmt.Sprint(body["tables"]), fmt.Sprintf("count:%d", rows)) {
				key = "200-partial"
			}
			seen[key]++
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	n, err := c.AddNode(ctx, "gru", fmt.Sprintf("127.0.0.1:%d", port), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gru ready %s after start", time.Since(start))
	devcluster.WaitFor(t, n.APIURL+"/data/t/4999.json", 200, 5*time.Second)
	close(stop)
	<-done
	t.Logf("answers seen while gru joined: %v", seen)
	if seen["404"] > 0 || seen["200-partial"] > 0 || seen["200"] == 0 {
		t.Fatalf("gru answered before it was ready: %v", seen)
	}
}

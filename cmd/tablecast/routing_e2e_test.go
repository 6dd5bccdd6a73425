package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// send posts a JSON body with the cluster's token through client.
func send(tb testing.TB, client *http.Client, url, token, body string, hdr ...string) (*http.Response, map[string]any) {
	tb.Helper()
	resp, out, err := trySend(client, url, token, body, hdr...)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, out
}

// trySend is send for goroutines other than the test's, which must not
// call Fatal: the error comes back instead.
func trySend(client *http.Client, url, token, body string, hdr ...string) (*http.Response, map[string]any, error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("POST %s after %s: %w", url, time.Since(start).Round(time.Millisecond), err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp, out, nil
}

func TestCluster_ReadYourWrites(t *testing.T) {
	for _, delay := range []time.Duration{0, 50 * time.Millisecond} {
		t.Run(fmt.Sprintf("Delay%s", delay), func(t *testing.T) {
			c := devcluster.MustStart(t, binPath, func(o *devcluster.Options) {
				o.Lease = "static" // delay proxies sit on the static primary's URLs
				o.Delays = map[string]time.Duration{"syd": delay, "sjc": delay}
			})
			syd, sjc := c.Nodes[1].APIURL, c.Nodes[2].APIURL
			// Created and published through a replica: forwarded to the primary.
			if resp, out := send(t, http.DefaultClient, syd+"/rw/-/create", c.Token, `{"table":"items","pk":"id","columns":[{"name":"id","type":"integer"},{"name":"v","type":"text"}]}`); resp.StatusCode != 201 {
				t.Fatalf("create via replica: %d %v", resp.StatusCode, out)
			}
			if resp, out := send(t, http.DefaultClient, syd+"/rw/items/-/publish", c.Token, `{}`); resp.StatusCode != 200 {
				t.Fatalf("publish via replica: %d %v", resp.StatusCode, out)
			}
			const writers, each = 4, 50
			var stale, reads int
			var mu sync.Mutex
			var wg sync.WaitGroup
			start := time.Now()
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					jar, _ := cookiejar.New(nil)
					client := &http.Client{Jar: jar, Timeout: 20 * time.Second}
					for i := range each {
						id := w*1000 + i
						resp, out, err := trySend(client, syd+"/rw/items/-/insert", c.Token, fmt.Sprintf(`{"row":{"id":%d,"v":"w%d"}}`, id, id))
						if err != nil {
							t.Errorf("insert %d via replica: %v", id, err)
							return
						}
						txid, _ := out["txid"].(string)
						if resp.StatusCode != 201 || txid == "" {
							t.Errorf("insert %d via replica: %d %v", id, resp.StatusCode, out)
							return
						}
						// Same replica with the header bookmark; the other replica with the cookie.
						for _, read := range []struct{ base, hdr string }{{syd, txid}, {sjc, ""}} {
							req, _ := http.NewRequest("GET", fmt.Sprintf("%s/rw/items/%d.json", read.base, id), nil)
							if read.hdr != "" {
								req.Header.Set("Tablecast-Txid", read.hdr)
							}
							begin := time.Now()
							rresp, err := client.Do(req)
							if err != nil {
								t.Errorf("read-your-write %d on %s after %s: %v", id, read.base, time.Since(begin).Round(time.Millisecond), err)
								return
							}
							body, _ := io.ReadAll(rresp.Body)
							rresp.Body.Close()
							mu.Lock()
							reads++
							if rresp.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprintf(`"w%d"`, id)) {
								stale++
								t.Errorf("read-your-write %d on %s: %d %s", id, read.base, rresp.StatusCode, body)
							}
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			t.Logf("delay %s: %d writes through a replica, %d reads with bookmarks, %d stale, %s", delay, writers*each, reads, stale, time.Since(start))
			if stale != 0 || reads != 2*writers*each {
				t.Fatalf("%d stale of %d reads, want 0 of %d (a writer that stopped early says why above)", stale, reads, 2*writers*each)
			}

			t.Run("FutureBookmark504", func(t *testing.T) {
				begin := time.Now()
				status, _, body := get(t, sjc+"/rw/items/1.json?_txid=00000000ffffffff")
				took := time.Since(begin)
				if status != 504 || took < 2*time.Second || took > 10*time.Second {
					t.Fatalf("status %d after %s: %v", status, took, body)
				}
			})
			if delay != 0 {
				return
			}
			t.Run("PrimaryUnreachable503", func(t *testing.T) {
				killed := time.Now()
				devcluster.MustKill(t, c.Nodes[0])
				// Nothing acknowledged was lost on the replicas (read at
				// once: they heard from the primary at most a heartbeat,
				// 1 s, before it died, well within revocation-bound, 3 s).
				for _, base := range []string{syd, sjc} {
					_, _, body := get(t, base+"/rw.json")
					if !strings.Contains(fmt.Sprint(body), fmt.Sprintf("count:%d", writers*each)) {
						t.Fatalf("%s after primary loss: %v", base, body)
					}
				}
				resp, out := send(t, http.DefaultClient, syd+"/rw/items/-/insert", c.Token, `{"row":{"id":999999,"v":"x"}}`)
				if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("write with the primary dead: %d %v", resp.StatusCode, out)
				}
				// That took primary-wait (5 s): past revocation-bound, the
				// replicas serve no public reads any more.
				for _, base := range []string{syd, sjc} {
					status, h, body := get(t, base+"/rw.json")
					if status != 503 || h.Get("Retry-After") == "" || !strings.Contains(fmt.Sprint(body["error"]), "revocation-bound") {
						t.Fatalf("%s %s after primary loss: %d %v", base, time.Since(killed), status, body)
					}
				}
			})
		})
	}
}

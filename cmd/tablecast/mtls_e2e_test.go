package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	lfshttp "github.com/superfly/litefs/http"
	"github.com/tablecast/tablecast/deploy/devcluster"
	"github.com/tablecast/tablecast/fsmount"
	"github.com/tablecast/tablecast/nodetls"
)

// attacker is what someone who reaches the node-to-node ports holds: no
// certificate, another CA's, or (an insider) a valid node certificate.
type attacker struct {
	name string
	tls  *tls.Config // nil: plaintext
}

// attackers returns the ways in: plaintext, TLS without a client
// certificate, and a node certificate of another CA.
func attackers(t *testing.T, c *devcluster.Cluster) []attacker {
	t.Helper()
	other := t.TempDir()
	if err := nodetls.NewCA(other, time.Hour); err != nil {
		t.Fatal(err)
	}
	stranger := loadNodeTLS(t, other, c.Nodes[0].Name) // even with the primary's name
	noCert := stranger.Client()
	noCert.Certificates = nil
	return []attacker{{"plaintext", nil}, {"no client certificate", noCert}, {"other CA", stranger.Client()}}
}

// loadNodeTLS issues a node certificate of the CA in dir and loads it.
func loadNodeTLS(t *testing.T, dir, name string) *nodetls.Config {
	t.Helper()
	out := t.TempDir()
	cert, key, err := nodetls.IssueNode(dir, out, nodetls.Node{Name: name, Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := nodetls.Load(filepath.Join(out, nodetls.CACertFile), cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// h2Client speaks LiteFS's HTTP/2: h2c in plaintext, h2 over TLS.
func h2Client(cfg *tls.Config) *http.Client {
	if cfg == nil {
		c := lfshttp.NewClient().HTTPClient
		c.Timeout = 5 * time.Second
		return c
	}
	tr := &http.Transport{TLSClientConfig: cfg.Clone(), Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP2(true)
	return &http.Client{Timeout: 5 * time.Second, Transport: tr}
}

// h1Client speaks HTTP/1.1, in plaintext or over TLS.
func h1Client(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// asScheme rewrites base to http:// for a plaintext attacker.
func asScheme(base string, cfg *tls.Config) string {
	if cfg == nil {
		return "http://" + strings.TrimPrefix(base, "https://")
	}
	return base
}

// got fetches url; it returns the status and body, or the error.
func got(client *http.Client, method, url string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, nil
}

// sqliteHeader starts every SQLite database file: /export's answer.
var sqliteHeader = []byte("SQLite format 3\x00")

// raftTerm is the node's raft term from its status.
func raftTerm(t *testing.T, c *devcluster.Cluster, n devcluster.ClusterNode) string {
	t.Helper()
	st, err := callJSON(context.Background(), cliClient, http.MethodGet, n.APIURL+"/-/status.json", c.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(st["raft_term"])
}

// Found by attack (issue 13): the LiteFS port served /export and /import
// to anyone, and the raft port took a forged AppendEntries. Now the
// LiteFS, raft and node ports of real nodes answer nothing to a peer
// without a node certificate of the cluster CA, and LiteFS answers a valid
// one only its replication stream.
func TestCluster_NodePortsNeedClusterCert(t *testing.T) {
	c := devcluster.MustStart(t, binPath, func(o *devcluster.Options) { o.Regions = []string{"lhr", "syd"} })
	prim, syd := c.Nodes[0], c.Nodes[1]
	for _, u := range []string{prim.LiteFSURL, prim.NodeURL, syd.LiteFSURL, syd.NodeURL} {
		if !strings.HasPrefix(u, "https://") {
			t.Fatalf("node-to-node URL %s is not https", u)
		}
	}
	termBefore := raftTerm(t, c, syd)
	db := []byte(strings.Repeat("x", 4096))
	copy(db, sqliteHeader)

	for _, a := range attackers(t, c) {
		t.Run("LiteFS/"+a.name, func(t *testing.T) {
			base := asScheme(prim.LiteFSURL, a.tls)
			for _, client := range []*http.Client{h2Client(a.tls), h1Client(a.tls)} {
				for _, path := range []string{"/export?name=_tablecast.db", "/debug/pprof/", "/debug/vars", "/info"} {
					code, body, err := got(client, http.MethodGet, base+path, nil)
					if err == nil && (code == http.StatusOK || bytes.Contains(body, sqliteHeader)) {
						t.Errorf("GET %s answered %d (%d bytes)", path, code, len(body))
					}
					if err == nil && a.tls != nil {
						t.Errorf("GET %s: TLS handshake succeeded (%d)", path, code)
					}
				}
				for _, path := range []string{"/import?name=planted.db", "/halt"} {
					if code, _, err := got(client, http.MethodPost, base+path, db); err == nil && (code/100 == 2 || a.tls != nil) {
						t.Errorf("POST %s answered %d", path, code)
					}
				}
			}
		})
		t.Run("NodeAPI/"+a.name, func(t *testing.T) {
			base := asScheme(prim.NodeURL, a.tls)
			join := `{"node":{"id":"evil-1","role":"candidate","raft-addr":"127.0.0.1:1","node-url":"https://127.0.0.1:1","litefs-url":"https://127.0.0.1:2"},"voter":true}`
			for _, rq := range []struct{ method, path, body string }{
				{http.MethodGet, "/-/status.json", ""}, {http.MethodPost, "/-/cluster/join", join},
			} {
				req, _ := http.NewRequest(rq.method, base+rq.path, strings.NewReader(rq.body))
				req.Header.Set("Authorization", "Bearer "+c.Token) // even with a stolen token
				resp, err := h1Client(a.tls).Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode/100 == 2 || a.tls != nil {
						t.Errorf("%s %s answered %d", rq.method, rq.path, resp.StatusCode)
					}
				}
			}
		})
		t.Run("Raft/"+a.name, func(t *testing.T) {
			// A forged AppendEntries with a much higher term: before, a
			// replica then named the sender primary.
			var trans *raft.NetworkTransport
			var err error
			if a.tls == nil {
				trans, err = raft.NewTCPTransport("127.0.0.1:0", nil, 1, 2*time.Second, io.Discard)
			} else {
				server := a.tls.Clone()
				if len(server.Certificates) == 0 {
					server = attackers(t, c)[2].tls // a listener needs some certificate
				}
				trans, err = fsmount.NewTLSTransport("127.0.0.1:0", nil, server, a.tls, 1, 2*time.Second)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer trans.Close()
			for _, target := range []devcluster.ClusterNode{prim, syd} {
				var resp raft.AppendEntriesResponse
				req := &raft.AppendEntriesRequest{
					RPCHeader: raft.RPCHeader{ID: []byte("evil-1"), Addr: []byte(trans.LocalAddr())},
					Term:      1 << 40, PrevLogEntry: 1 << 30, PrevLogTerm: 1 << 40, LeaderCommitIndex: 1 << 30,
				}
				if err := trans.AppendEntries(raft.ServerID(target.Name), raft.ServerAddress(target.RaftAddr), req, &resp); err == nil {
					t.Errorf("%s's raft answered a forged AppendEntries: %+v", target.Name, resp)
				}
			}
		})
	}

	t.Run("ValidCertOnlyTheStream", func(t *testing.T) {
		// An insider: a node certificate of the cluster CA. LiteFS still
		// serves it nothing but the replication stream.
		insider := loadNodeTLS(t, c.TLSDir(), "insider-1").Client()
		for _, client := range []*http.Client{h2Client(insider), h1Client(insider)} {
			for _, rq := range []struct{ method, path string }{
				{http.MethodGet, "/export?name=_tablecast.db"}, {http.MethodGet, "/export?name=demo.db"},
				{http.MethodGet, "/debug/pprof/"}, {http.MethodGet, "/debug/pprof/cmdline"}, {http.MethodGet, "/debug/vars"},
				{http.MethodGet, "/metrics"}, {http.MethodGet, "/info"}, {http.MethodGet, "/events"},
				{http.MethodPost, "/import?name=planted.db"}, {http.MethodPost, "/halt"}, {http.MethodPost, "/tx"},
				{http.MethodPost, "/promote"}, {http.MethodPost, "/handoff?nodeID=1"},
			} {
				code, body, err := got(client, rq.method, prim.LiteFSURL+rq.path, db)
				if err != nil || code != http.StatusNotFound || bytes.Contains(body, sqliteHeader) {
					t.Errorf("%s %s: %d %v, want 404", rq.method, rq.path, code, err)
				}
			}
		}
		// Nor can it join under another node's name, token or not.
		req, _ := http.NewRequest(http.MethodPost, prim.NodeURL+"/-/cluster/join",
			strings.NewReader(`{"node":{"id":"lhr-9","role":"candidate","raft-addr":"127.0.0.1:1"},"voter":true}`))
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := h1Client(insider).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("join as lhr-9 with insider-1's certificate: %d, want 403", resp.StatusCode)
		}
	})

	t.Run("NoEffect", func(t *testing.T) {
		if got := raftTerm(t, c, syd); got != termBefore {
			t.Errorf("raft term moved from %s to %s", termBefore, got)
		}
		for _, row := range clusterStatus(t, c, syd.APIURL)["nodes"].([]any) {
			r := row.(map[string]any)
			if name := fmt.Sprint(r["name"]); name != prim.Name && name != syd.Name {
				t.Errorf("registry lists %s", name)
			}
			if r["role"] == "primary" && r["name"] != prim.Name {
				t.Errorf("%s is primary, want %s", r["name"], prim.Name)
			}
		}
		if code, _, _ := get(t, prim.APIURL+"/planted.json"); code != http.StatusNotFound {
			t.Errorf("planted database: %d", code)
		}
		// The cluster still works, over mutual TLS: a write sent to the
		// replica is forwarded to the primary and replicated back.
		if resp, out := send(t, noRedirect, syd.APIURL+"/m/-/create", c.Token, `{"table":"t","pk":"id","columns":[{"name":"id","type":"integer"}]}`); resp.StatusCode != http.StatusCreated {
			t.Fatalf("create via replica: %d %v", resp.StatusCode, out)
		}
		if resp, out := send(t, noRedirect, syd.APIURL+"/m/t/-/insert?_sync=0", c.Token, `{"row":{"id":1}}`); resp.StatusCode != http.StatusCreated {
			t.Fatalf("insert via replica: %d %v", resp.StatusCode, out)
		}
		send(t, noRedirect, prim.APIURL+"/m/t/-/publish", c.Token, `{}`)
		devcluster.WaitFor(t, syd.APIURL+"/m/t/1.json", http.StatusOK, 10*time.Second)
	})
}

// The raft port of a node accepts a TLS handshake only with a client
// certificate: a bare TCP connection is closed without a raft answer.
func TestCluster_RaftPortRefusesPlainTCP(t *testing.T) {
	c := devcluster.MustStart(t, binPath, func(o *devcluster.Options) { o.Regions = []string{"lhr"} })
	conn, err := net.DialTimeout("tcp", c.Nodes[0].RaftAddr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = conn.Write([]byte{0, 0x80}) // rpcAppendEntries, then msgpack
	b, _ := io.ReadAll(conn)
	if len(b) > 0 && !bytes.HasPrefix(b, []byte{0x15}) { // a TLS alert record is all it may get
		t.Fatalf("raft port answered plain TCP with %q", b)
	}
}

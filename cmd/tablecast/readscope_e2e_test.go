package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// readAs GETs url, with a bearer token unless secret is "", and returns
// status, headers and the raw body.
func readAs(tb testing.TB, url, secret string) (int, http.Header, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// waitTXIDApplied waits (GET /-/wait, admin token) until node has applied
// txid of db.
func waitTXIDApplied(tb testing.TB, node, admin, db string, txid any) {
	tb.Helper()
	out, err := callJSON(context.Background(), cliClient, http.MethodGet, fmt.Sprintf("%s/-/wait?db=%s&txid=%v&timeout=10s", node, db, txid), admin, nil)
	if err != nil {
		tb.Fatalf("wait for %s@%v on %s: %v %v", db, txid, node, out, err)
	}
}

// A token with the read scope reads private tables on a replica, from its
// copy of _tablecast.db; anonymous visitors get the missing-table 404,
// byte for byte, before and after (the cache is not poisoned); the token
// stops working there once its revocation has replicated; a write-only
// token gets no private values back from "return": true.
func TestCluster_ReadScope(t *testing.T) {
	c := devcluster.MustStart(t, binPath, nil)
	p, syd := c.Nodes[0].APIURL, c.Nodes[1].APIURL
	resp, out := send(t, http.DefaultClient, p+"/collab/-/create", c.Token,
		`{"table":"drafts","pk":"id","rows":[{"id":1,"title":"plan","body":"secret-plan-77"}]}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create drafts: %d %v", resp.StatusCode, out)
	}
	resp, out = send(t, http.DefaultClient, p+"/collab/-/create", c.Token, `{"table":"posts","pk":"id","rows":[{"id":1,"title":"hello"}]}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create posts: %d %v", resp.StatusCode, out)
	}
	resp, out = send(t, http.DefaultClient, p+"/collab/posts/-/publish", c.Token, ``)
	if resp.StatusCode != 200 {
		t.Fatalf("publish posts: %d %v", resp.StatusCode, out)
	}
	dataTXID := out["txid"]
	reader, made := mustCreateToken(t, p, c.Token, "collaborator", "read")
	writer, _ := mustCreateToken(t, p, c.Token, "ingest", "write")
	waitTXIDApplied(t, syd, c.Token, "collab", dataTXID)
	waitTXIDApplied(t, syd, c.Token, "_tablecast", made["txid"])

	// Anonymous: the private table is a missing one, several times over
	// (the second answer onwards comes from the cache).
	anonymous := func() string {
		t.Helper()
		var b strings.Builder
		for range 3 {
			s1, h1, b1 := readAs(t, syd+"/collab/drafts.json", "")
			s2, h2, b2 := readAs(t, syd+"/collab/nosuch.json", "")
			if s1 != 404 || s1 != s2 || strings.Replace(b1, "drafts", "nosuch", 1) != b2 ||
				h1.Get("Tablecast-Txid") != "" || h1.Get("Etag") != "" || h1.Get("Cache-Control") != h2.Get("Cache-Control") {
				t.Fatalf("private table: %d %v %s; missing table: %d %v %s", s1, h1, b1, s2, h2, b2)
			}
			b.WriteString(b1)
		}
		for _, path := range []string{"/collab.json", "/.json", "/collab/drafts.csv", "/collab/drafts/1.json"} {
			status, _, body := readAs(t, syd+path, "")
			if strings.Contains(body, "secret-plan-77") || strings.Contains(body, `"drafts"`) {
				t.Fatalf("anonymous %s: %d %s", path, status, body)
			}
			fmt.Fprintf(&b, "%s %d %s\n", path, status, body)
		}
		return b.String()
	}
	before := anonymous()

	t.Run("ReadTokenOnReplica", func(t *testing.T) {
		for _, path := range []string{"/collab/drafts.json", "/collab/drafts.csv", "/collab/drafts/1.json", "/collab/drafts"} {
			status, h, body := readAs(t, syd+path, reader)
			if status != 200 || !strings.Contains(body, "secret-plan-77") {
				t.Fatalf("%s with a read token: %d %s", path, status, body)
			}
			if h.Get("Cache-Control") != "private, no-store" || h.Get("Vary") != "Authorization" || h.Get("Tablecast-Node") != c.Nodes[1].Name {
				t.Errorf("%s with a read token: headers %v", path, h)
			}
		}
		if _, _, body := readAs(t, syd+"/collab.json", reader); !strings.Contains(body, `"name":"drafts"`) {
			t.Errorf("/collab.json with a read token: %s", body)
		}
	})
	t.Run("AnonymousUnchanged", func(t *testing.T) {
		if after := anonymous(); after != before {
			t.Fatalf("anonymous answers changed after token reads:\n%s\nwere\n%s", after, before)
		}
	})
	t.Run("WriteOnlyToken", func(t *testing.T) {
		if status, _, body := readAs(t, syd+"/collab/drafts.json", writer); status != 404 || strings.Contains(body, "secret-plan-77") {
			t.Errorf("read with a write-only token: %d %s", status, body)
		}
		resp, out := send(t, http.DefaultClient, syd+"/collab/drafts/-/upsert", writer, `{"return":true,"row":{"id":1,"title":"plan v2"}}`)
		if resp.StatusCode != 200 || fmt.Sprint(out["rows"]) != "[map[id:1]]" {
			t.Errorf("upsert return:true with a write-only token: %d %v, want the key only", resp.StatusCode, out)
		}
		resp, out = send(t, http.DefaultClient, syd+"/collab/drafts/-/insert", writer, `{"return":true,"row":{"id":2,"title":"t","body":"secret-2"}}`)
		if resp.StatusCode != 201 || fmt.Sprint(out["rows"]) != "[map[id:2]]" {
			t.Errorf("insert return:true with a write-only token: %d %v, want the key only", resp.StatusCode, out)
		}
	})
	t.Run("RevokedOnReplica", func(t *testing.T) {
		rev, err := callJSON(context.Background(), cliClient, http.MethodPost, p+"/-/admin/api/tokens/collaborator/revoke", c.Token, nil)
		if err != nil {
			t.Fatalf("revoke: %v %v", rev, err)
		}
		waitTXIDApplied(t, syd, c.Token, "_tablecast", rev["txid"])
		status, h, body := readAs(t, syd+"/collab/drafts.json", reader)
		if status != 401 || h.Get("WWW-Authenticate") != "Bearer" || strings.Contains(body, "secret-plan-77") ||
			!strings.Contains(body, "Token has been revoked") {
			t.Fatalf("revoked read token on the replica: %d %v %s", status, h, body)
		}
		if after := anonymous(); strings.Contains(after, "secret") {
			t.Fatalf("anonymous after revocation: %s", after)
		}
	})
}

// The offline token create takes the read scope, checks scope names (a
// typo would otherwise be found only when a node loads the config) and
// prints them in their usual order.
func TestTokenCreateOffline_Scopes(t *testing.T) {
	out, err := captureStdout(t, func() error { return runToken([]string{"create", "-name", "reviewer", "-scope", "write,read"}) })
	if err != nil || !strings.Contains(out, "scopes: [read, write]") || !secretLine.MatchString(out) {
		t.Fatalf("token create -scope write,read: %v\n%s", err, out)
	}
	out, err = captureStdout(t, func() error { return runToken([]string{"create", "-scope", "reed"}) })
	if err == nil || !strings.Contains(err.Error(), `Unknown scope "reed"`) || strings.Contains(out, "tc_") {
		t.Fatalf("token create -scope reed: %v\n%s", err, out)
	}
}

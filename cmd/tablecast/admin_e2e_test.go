package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// captureStdout runs fn with os.Stdout going to a pipe and returns what it
// printed. Tests in this package do not run in parallel.
func captureStdout(tb testing.TB, fn func() error) (string, error) {
	tb.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	err = fn()
	os.Stdout = old
	w.Close()
	return <-done, err
}

var secretLine = regexp.MustCompile(`(?m)^token: (tc_\S+)$`)

// mustCreateToken makes a token through the admin API of base.
func mustCreateToken(tb testing.TB, base, admin, name string, scopes ...string) (secret string, out map[string]any) {
	tb.Helper()
	body := map[string]any{"name": name, "scopes": scopes}
	out, err := callJSON(context.Background(), cliClient, http.MethodPost, base+"/-/admin/api/tokens", admin, body)
	if err != nil {
		tb.Fatal(err)
	}
	secret, _ = out["secret"].(string)
	if secret == "" {
		tb.Fatalf("create token %s: %v", name, out)
	}
	return secret, out
}

// statusWith GETs url with a bearer token and returns the status.
func statusWith(tb testing.TB, url, secret string) int {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitStatusWith polls url with a token until it answers want: a token
// made on the primary reaches a replica's copy of _tablecast.db shortly.
func waitStatusWith(tb testing.TB, url, secret string, want int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := statusWith(tb, url, secret)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("GET %s: %d, want %d", url, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCluster_AdminTokens(t *testing.T) {
	c := devcluster.MustStart(t, binPath, nil)
	p, syd := c.Nodes[0].APIURL, c.Nodes[1].APIURL
	if resp, out := send(t, http.DefaultClient, p+"/shop/-/create", c.Token, `{"table":"products","pk":"id","rows":[{"id":1,"name":"kettle"}]}`); resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, out)
	}

	t.Run("TokenCLIThroughAReplica", func(t *testing.T) {
		out, err := captureStdout(t, func() error {
			return runToken([]string{"create", "-scope", "write", "-name", "bot", "-expires", "30d", "-url", syd, "-token", c.Token})
		})
		m := secretLine.FindStringSubmatch(out)
		if err != nil || m == nil || !strings.Contains(out, "scopes: write") {
			t.Fatalf("token create: %v\n%s", err, out)
		}
		bot := m[1]
		if resp, out := send(t, http.DefaultClient, syd+"/shop/products/-/insert", bot, `{"row":{"id":2,"name":"teapot"}}`); resp.StatusCode != 201 {
			t.Fatalf("insert with the new token: %d %v", resp.StatusCode, out)
		}
		if resp, out := send(t, http.DefaultClient, p+"/shop/products/-/publish", bot, ``); resp.StatusCode != 403 {
			t.Fatalf("publish with a write token: %d %v", resp.StatusCode, out)
		}
		out, err = captureStdout(t, func() error { return runToken([]string{"list", "-url", syd, "-token", c.Token}) })
		if err != nil || !regexp.MustCompile(`bot\s+write\s+database\s+active`).MatchString(out) || strings.Contains(out, bot) {
			t.Fatalf("token list: %v\n%s", err, out)
		}
		if _, err := captureStdout(t, func() error { return runToken([]string{"revoke", "bot", "-url", p, "-token", c.Token}) }); err != nil {
			t.Fatal(err)
		}
		if resp, out := send(t, http.DefaultClient, syd+"/shop/products/-/insert", bot, `{"row":{"id":3,"name":"cup"}}`); resp.StatusCode != 401 {
			t.Fatalf("insert with the revoked token: %d %v", resp.StatusCode, out)
		}
		// The offline form still prints a config entry.
		out, err = captureStdout(t, func() error { return runToken([]string{"create", "-name", "ci", "-scope", "write"}) })
		if err != nil || !strings.Contains(out, "sha256: ") || !strings.Contains(out, "scopes: [write]") {
			t.Fatalf("offline token create: %v\n%s", err, out)
		}
	})

	t.Run("ClusterRoutesNeedAdmin", func(t *testing.T) {
		writer, _ := mustCreateToken(t, p, c.Token, "writer", "write", "publish")
		admin, _ := mustCreateToken(t, p, c.Token, "ops", "admin")
		for _, base := range []string{p, syd} {
			waitStatusWith(t, base+"/-/cluster.json", admin, 200)
			for _, path := range []string{"/-/cluster.json", "/-/wait?db=shop&txid=1"} {
				if got := statusWith(t, base+path, writer); got != 403 {
					t.Errorf("%s%s with a write token: %d, want 403", base, path, got)
				}
				if got := statusWith(t, base+path, ""); got != 401 {
					t.Errorf("%s%s without a token: %d, want 401", base, path, got)
				}
			}
			if resp, out := send(t, http.DefaultClient, base+"/-/cluster/handoff", writer, `{}`); resp.StatusCode != 403 {
				t.Errorf("handoff with a write token: %d %v", resp.StatusCode, out)
			}
			for secret, full := range map[string]bool{writer: false, admin: true} {
				st, err := callJSON(context.Background(), cliClient, http.MethodGet, base+"/-/status.json", secret, nil)
				if err != nil || strings.Contains(fmt.Sprint(st["txids"]), "shop") != full {
					t.Errorf("%s/-/status.json (full %v): %v %v", base, full, st["txids"], err)
				}
			}
		}
	})

	t.Run("ControlDBNeverServed", func(t *testing.T) {
		if _, err := mustCreateTokenOnce(p, c.Token); err != nil {
			t.Fatal(err)
		}
		for _, base := range []string{p, syd} {
			assertNoControlDB(t, base, c.Token)
		}
	})

	t.Run("AdminPagesProxiedToThePrimary", func(t *testing.T) {
		resp, err := noRedirect.Get(syd + "/-/admin/login")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `id="login"`) || resp.Header.Get("Tablecast-Via") != c.Nodes[1].Name {
			t.Fatalf("login page via a replica: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		resp, err = noRedirect.Post(syd+"/-/admin/login", "application/x-www-form-urlencoded", strings.NewReader("token="+c.Token))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("sign-in without the form's nonce via a replica: %d", resp.StatusCode)
		}
	})
}

// mustCreateTokenOnce makes sure _tablecast.db exists with a token in it.
func mustCreateTokenOnce(base, admin string) (map[string]any, error) {
	return callJSON(context.Background(), cliClient, http.MethodPost, base+"/-/admin/api/tokens", admin,
		map[string]any{"scopes": []string{"write"}})
}

// assertNoControlDB checks that every public path answers for _tablecast
// exactly as for a database that does not exist, with or without a token.
func assertNoControlDB(t *testing.T, base, token string) {
	t.Helper()
	paths := []string{
		"/%s", "/%s.json", "/%s/tokens", "/%s/tokens.json", "/%s/tokens.csv", "/%s/tokens/1.json",
		"/%s/sessions.json", "/%s/audit.json", "/%s/audit.csv?_stream=1",
		"/%s.json?sql=select+*+from+tokens", "/%s/-/query.json?sql=select+*+from+tokens",
		"/%s/-/query.csv?sql=select+hash+from+tokens", "/%s/-/query?sql=select+*+from+sessions",
	}
	for _, path := range paths {
		for _, secret := range []string{"", token} {
			s1, b1 := rawGet(t, base+fmt.Sprintf(path, "_tablecast"), secret)
			s2, b2 := rawGet(t, base+fmt.Sprintf(path, "nosuchdb99"), secret)
			b1 = strings.ReplaceAll(b1, "_tablecast", "X")
			b2 = strings.ReplaceAll(b2, "nosuchdb99", "X")
			if s1 != 404 || s1 != s2 || b1 != b2 {
				t.Errorf("%s%s: %d %q; missing database: %d %q", base, fmt.Sprintf(path, "_tablecast"), s1, b1, s2, b2)
			}
		}
	}
	if _, body := rawGet(t, base+"/.json", ""); strings.Contains(body, "_tablecast") {
		t.Errorf("%s/.json lists _tablecast: %s", base, body)
	}
}

func rawGet(t *testing.T, url, secret string) (int, string) {
	t.Helper()
	status, _, body := readAs(t, url, secret)
	return status, body
}

// Tokens live in _tablecast.db, which LiteFS replicates to every
// candidate: a new primary accepts the tokens made on the old one, and
// still refuses the revoked ones.
func TestCluster_TokensSurviveFailover(t *testing.T) {
	c := devcluster.MustStart(t, binPath, func(o *devcluster.Options) {
		o.Regions, o.Candidates = []string{"lhr", "syd"}, 3
	})
	devcluster.MustWaitVoters(t, c, c.Nodes[0].APIURL, 3)
	// Setup goes through whichever node is primary now (raft may move it
	// right after the start on loaded cores; sendSetup rides out the 503s
	// of such a move, which wrote nothing); the primary then is killed.
	sendSetup(t, c, c.Nodes[0].APIURL+"/fo/-/create", `{"table":"t","pk":"id","columns":[{"name":"id","type":"integer"}]}`, 201)
	old := c.Nodes[primaryIndex(t, c)]
	kept, out := mustCreateToken(t, old.APIURL, c.Token, "survivor", "write")
	if out["synced"] != true {
		t.Fatalf("token not confirmed by another candidate: %v", out)
	}
	gone, _ := mustCreateToken(t, old.APIURL, c.Token, "gone", "write")
	rev, err := callJSON(context.Background(), cliClient, http.MethodPost, old.APIURL+"/-/admin/api/tokens/gone/revoke", c.Token, nil)
	if err != nil || rev["synced"] != true {
		t.Fatalf("revoke: %v %v", rev, err)
	}
	if resp, out := send(t, http.DefaultClient, old.APIURL+"/fo/t/-/insert", kept, `{"row":{"id":1}}`); resp.StatusCode != 201 {
		t.Fatalf("insert before failover: %d %v", resp.StatusCode, out)
	}

	killed := time.Now()
	devcluster.MustKill(t, old)
	var others []devcluster.ClusterNode
	for _, n := range c.Nodes {
		if n.Candidate && n.Name != old.Name {
			others = append(others, n)
		}
	}
	var primary devcluster.ClusterNode
	for id := 2; primary.Name == ""; {
		if time.Since(killed) > 30*time.Second {
			t.Fatal("no new primary accepted the token within 30s")
		}
		for _, n := range others {
			id++
			resp, _ := send(t, noRedirect, n.APIURL+"/fo/t/-/insert", kept, fmt.Sprintf(`{"row":{"id":%d}}`, id))
			if resp.StatusCode == 201 && resp.Header.Get("Tablecast-Node") == n.Name {
				primary = n
				t.Logf("the new primary %s accepted the token %s after SIGKILL of %s", n.Name, time.Since(killed), old.Name)
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp, out := send(t, noRedirect, primary.APIURL+"/fo/t/-/insert", gone, `{"row":{"id":0}}`); resp.StatusCode != 401 {
		t.Fatalf("revoked token on the new primary: %d %v", resp.StatusCode, out)
	}
	list, err := callJSON(context.Background(), cliClient, http.MethodGet, primary.APIURL+"/-/admin/api/tokens", c.Token, nil)
	if err != nil || !strings.Contains(fmt.Sprint(list["tokens"]), "name:survivor") {
		t.Fatalf("tokens on the new primary: %v %v", list, err)
	}
}

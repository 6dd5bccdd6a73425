package primary

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
)

// Config tokens of the scope tests, one per scope, and their secrets.
var scopeTokens = map[string][]string{
	"reader":    {ScopeRead},
	"writer":    {ScopeWrite},
	"publisher": {ScopePublish},
	"admin":     {ScopeAdmin},
}

// newScopeEnv is the zoo writer with config tokens alice (every scope),
// writer, publisher and admin, and the _tablecast.db token store.
func newScopeEnv(tb testing.TB) *testEnv {
	tb.Helper()
	e := newZooEnv(tb)
	list := []Token{{Name: "alice", Hash: HashToken(testSecret)}}
	for name, scopes := range scopeTokens {
		list = append(list, Token{Name: name, Hash: HashToken("tc_" + name), Scopes: scopes})
	}
	tokens, err := NewTokens(list)
	if err != nil {
		tb.Fatal(err)
	}
	tokens.Store = e.w.Control()
	e.w.Tokens = tokens
	return e
}

func TestParseScopes(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string // joined, or the error
	}{
		{[]string{"admin", "write"}, "write,admin"},
		{[]string{"admin", "read", "write"}, "read,write,admin"},
		{[]string{"reads"}, `Unknown scope "reads": want read, write, publish, schema or admin`},
		{[]string{"publish", "publish"}, "publish"},
		{[]string{" write "}, "write"},
		{[]string{"write", "root"}, `Unknown scope "root"`},
		{nil, "at least one scope"},
		{[]string{}, "at least one scope"},
	} {
		got, err := ParseScopes(tt.in)
		if err != nil {
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseScopes(%q): error %v, want %q", tt.in, err, tt.want)
			}
			continue
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("ParseScopes(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Every write route needs its scope: write for rows, publish for
// visibility. A token without it gets 403, no token or a bad one 401.
func TestWriter_Scopes(t *testing.T) {
	routes := []struct {
		name, path, body string
		scope            string
		status           int
	}{
		{"Create", "/zoo/-/create", `{"table":"t%d","columns":[{"name":"x"}]}`, ScopeWrite, 201},
		{"Insert", "/zoo/notes/-/insert", `{"row":{"body":"hi"}}`, ScopeWrite, 201},
		{"Upsert", "/zoo/dogs/-/upsert", `{"row":{"id":1,"name":"Cleo"}}`, ScopeWrite, 200},
		{"Delete", "/zoo/notes/1/-/delete", ``, ScopeWrite, 200},
		{"Update", "/zoo/dogs/1/-/update", `{"update":{"name":"x"}}`, ScopeWrite, 200},
		{"Drop", "/zoo/notes/-/drop", `{"confirm":true}`, ScopeSchema, 200}, // no token here has schema alone: see TestWriter_Drop_Scope
		{"Publish", "/zoo/dogs/-/publish", ``, ScopePublish, 200},
		{"Unpublish", "/zoo/dogs/-/unpublish", ``, ScopePublish, 200},
	}
	for i, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			e := newScopeEnv(t)
			e.mustPost("/zoo/notes/-/insert", `{"row":{"body":"one"}}`, 201)
			body := strings.Replace(rt.body, "%d", string(rune('a'+i)), 1)
			for name, scopes := range scopeTokens {
				rec := e.request(http.MethodPost, rt.path, body, "Bearer tc_"+name)
				if scopes[0] == rt.scope {
					if rec.Code != rt.status {
						t.Errorf("%s with %s: status %d, want %d: %s", rt.name, name, rec.Code, rt.status, rec.Body)
					}
					continue
				}
				assertError(t, rec, http.StatusForbidden, "lacks the "+rt.scope+" scope")
			}
			assertError(t, e.request(http.MethodPost, rt.path, body, ""), http.StatusUnauthorized, "Missing token")
			assertError(t, e.request(http.MethodPost, rt.path, body, "Bearer tc_nobody"), http.StatusUnauthorized, "Invalid token")
		})
	}
}

// Tokens made in _tablecast.db authenticate with their scopes until they
// expire or are revoked.
func TestTokens_StoredTokens(t *testing.T) {
	e := newScopeEnv(t)
	ctx := context.Background()
	tokens := e.w.Tokens
	now := time.Now()
	tokens.Now = func() time.Time { return now }
	_, writeSecret, _, err := tokens.Create(ctx, NewToken{Name: "bot", Scopes: []string{"write"}, Expires: "1h"}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, pubSecret, _, err := tokens.Create(ctx, NewToken{Name: "pub", Scopes: []string{"publish"}}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	insert := func(secret string) int {
		return e.request(http.MethodPost, "/zoo/notes/-/insert", `{"row":{"body":"x"}}`, "Bearer "+secret).Code
	}
	publish := func(secret string) int {
		return e.request(http.MethodPost, "/zoo/dogs/-/publish", ``, "Bearer "+secret).Code
	}
	if got := insert(writeSecret); got != 201 {
		t.Fatalf("insert with stored write token: %d", got)
	}
	if got := publish(writeSecret); got != 403 {
		t.Errorf("publish with stored write token: %d, want 403", got)
	}
	if got := publish(pubSecret); got != 200 {
		t.Errorf("publish with stored publish token: %d", got)
	}
	if got := e.queryString("zoo", `SELECT token_name FROM _public_audit ORDER BY id DESC LIMIT 1`); got != "pub" {
		t.Errorf("_public_audit names %q, want pub", got)
	}

	t.Run("OnlyHashesStored", func(t *testing.T) {
		dump := e.snapshot(ControlDBName)
		if strings.Contains(dump, writeSecret) || strings.Contains(dump, pubSecret) {
			t.Fatalf("a secret is in %s:\n%s", ControlDBName, dump)
		}
		if !strings.Contains(dump, HashToken(writeSecret)) {
			t.Fatalf("hash of the secret not in %s:\n%s", ControlDBName, dump)
		}
	})
	t.Run("Expired", func(t *testing.T) {
		now = now.Add(time.Hour)
		assertError(t, e.request(http.MethodPost, "/zoo/notes/-/insert", `{"row":{"body":"x"}}`, "Bearer "+writeSecret),
			http.StatusUnauthorized, "Token has expired")
		now = now.Add(-time.Hour)
	})
	t.Run("Revoked", func(t *testing.T) {
		if _, _, err := tokens.Revoke(ctx, "pub", "alice"); err != nil {
			t.Fatal(err)
		}
		assertError(t, e.request(http.MethodPost, "/zoo/dogs/-/unpublish", ``, "Bearer "+pubSecret),
			http.StatusUnauthorized, "Token has been revoked")
		if got := insert(writeSecret); got != 201 {
			t.Errorf("another token after a revoke: %d", got)
		}
	})
	t.Run("NamesAreUnique", func(t *testing.T) {
		for _, name := range []string{"bot", "pub", "writer"} {
			_, _, _, err := tokens.Create(ctx, NewToken{Name: name, Scopes: []string{"write"}}, "alice")
			if tablecast.ErrorCode(err) != tablecast.ECONFLICT {
				t.Errorf("create %s again: %v, want a conflict", name, err)
			}
		}
	})
	t.Run("BadRequests", func(t *testing.T) {
		for _, req := range []NewToken{
			{Name: "-x", Scopes: []string{"write"}},
			{Name: "a b", Scopes: []string{"write"}},
			{Name: "ok", Scopes: nil},
			{Name: "ok", Scopes: []string{"root"}},
			{Name: "ok", Scopes: []string{"write"}, Expires: "-1h"},
			{Name: "ok", Scopes: []string{"write"}, Expires: "soon"},
		} {
			if _, _, _, err := tokens.Create(ctx, req, "alice"); tablecast.ErrorCode(err) != tablecast.EINVALID {
				t.Errorf("create %+v: %v, want invalid", req, err)
			}
		}
		if _, _, err := tokens.Revoke(ctx, "writer", "alice"); tablecast.ErrorCode(err) != tablecast.EINVALID {
			t.Errorf("revoke a config token: %v, want invalid", err)
		}
		if _, _, err := tokens.Revoke(ctx, "nobody", "alice"); tablecast.ErrorCode(err) != tablecast.ENOTFOUND {
			t.Errorf("revoke a missing token: %v, want not found", err)
		}
	})
}

// _tablecast.db is never a database the write routes accept, whatever
// the token.
func TestWriter_ControlDBRefused(t *testing.T) {
	e := newScopeEnv(t)
	if _, _, _, err := e.w.Tokens.Create(context.Background(), NewToken{Name: "x", Scopes: []string{"write"}}, "alice"); err != nil {
		t.Fatal(err)
	}
	before := e.snapshot(ControlDBName)
	for _, path := range []string{
		"/_tablecast/-/create", "/_tablecast/tokens/-/insert", "/_tablecast/tokens/-/upsert",
		"/_tablecast/tokens/x/-/delete", "/_tablecast/tokens/-/publish", "/_tablecast/sessions/-/publish",
	} {
		body := `{"table":"t","columns":[{"name":"x"}]}`
		if !strings.HasSuffix(path, "create") {
			body = `{"row":{"name":"evil","hash":"00","scopes":"admin","created_at":"x"}}`
		}
		if strings.HasSuffix(path, "publish") || strings.HasSuffix(path, "delete") {
			body = ``
		}
		assertError(t, e.post(path, body), http.StatusBadRequest, "invalid database name")
	}
	if _, _, err := e.w.SetPublic(context.Background(), ControlDBName, "tokens", true, "alice"); tablecast.ErrorCode(err) != tablecast.EINVALID {
		t.Errorf("SetPublic on %s: %v, want invalid", ControlDBName, err)
	}
	if after := e.snapshot(ControlDBName); after != before {
		t.Errorf("%s changed:\n%s\n%s", ControlDBName, before, after)
	}
}

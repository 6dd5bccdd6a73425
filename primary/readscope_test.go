package primary

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
)

// ReadsPrivate: read and admin tokens read private tables, a valid token
// without either reads as anonymous (false, no error), and a bad, expired
// or revoked token is refused (401).
func TestTokens_ReadsPrivate(t *testing.T) {
	e := newScopeEnv(t)
	ctx := context.Background()
	tokens := e.w.Tokens
	now := time.Now()
	tokens.Now = func() time.Time { return now }
	_, readSecret, _, err := tokens.Create(ctx, NewToken{Name: "analyst", Scopes: []string{"read"}, Expires: "1h"}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, writeSecret, _, err := tokens.Create(ctx, NewToken{Name: "bot", Scopes: []string{"write", "publish"}}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	check := func(auth string) (bool, error) {
		r := httptest.NewRequest(http.MethodGet, "/zoo/dogs.json", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return tokens.ReadsPrivate(r)
	}
	for _, tt := range []struct {
		auth string
		want bool
	}{
		{"Bearer " + testSecret, true}, // config token without a scope list: every scope
		{"Bearer tc_reader", true},
		{"Bearer tc_admin", true}, // admin implies read
		{"bearer tc_admin", true},
		{"Bearer tc_writer", false},
		{"Bearer tc_publisher", false},
		{"Bearer " + readSecret, true},
		{"Bearer " + writeSecret, false},
	} {
		got, err := check(tt.auth)
		if err != nil || got != tt.want {
			t.Errorf("%s: %v, %v; want %v", tt.auth, got, err, tt.want)
		}
	}
	for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer tc_nobody", "Basic dXNlcjpwYXNz", "tc_reader"} {
		if got, err := check(auth); got || tablecast.ErrorCode(err) != tablecast.EUNAUTHORIZED {
			t.Errorf("%q: %v, %v; want unauthorized", auth, got, err)
		}
	}
	now = now.Add(2 * time.Hour)
	if _, err := check("Bearer " + readSecret); tablecast.ErrorMessage(err) != "Token has expired" {
		t.Errorf("expired read token: %v", err)
	}
	now = now.Add(-2 * time.Hour)
	if _, _, err := tokens.Revoke(ctx, "analyst", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := check("Bearer " + readSecret); tablecast.ErrorMessage(err) != "Token has been revoked" {
		t.Errorf("revoked read token: %v", err)
	}
	if !(Principal{Scopes: []string{ScopeAdmin}}).Has(ScopeRead) || (Principal{Scopes: []string{ScopeRead}}).Has(ScopeAdmin) {
		t.Error("admin must imply read, and read nothing else")
	}
}

// "return": true gives whole rows only to a token that may read the table
// (read or admin scope, or the table is public at the write's TXID);
// a write-only token gets the keys of the rows it wrote, no other value.
func TestWriter_ReturnNeedsRead(t *testing.T) {
	e := newScopeEnv(t)
	ctx := context.Background()
	_, readWrite, _, err := e.w.Tokens.Create(ctx, NewToken{Name: "rw", Scopes: []string{"read", "write"}}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	e.exec("zoo", `UPDATE dogs SET meta = 'secret-meta' WHERE id = 2`)
	send := func(path, body, secret string) string {
		t.Helper()
		rec := e.request(http.MethodPost, path, body, "Bearer "+secret)
		if rec.Code/100 != 2 {
			t.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	rows := func(body string) string {
		_, rest, _ := strings.Cut(body, `"rows":`)
		rest, _, _ = strings.Cut(rest, `]`)
		return rest + "]"
	}
	upsert := `{"return": true, "row": {"id": 2, "age": 3}}`
	full := `[{"id":2,"name":"Pancakes","weight":4,"photo":null,"meta":"secret-meta","age":3}]`

	t.Run("WriteOnlyPrivate", func(t *testing.T) {
		body := send("/zoo/dogs/-/upsert", upsert, "tc_writer")
		if got := rows(body); got != `[{"id":2}]` {
			t.Errorf("upsert rows %s, want the key only", got)
		}
		for _, secret := range []string{"Pancakes", "secret-meta", "weight"} {
			if strings.Contains(body, secret) {
				t.Errorf("write-only token got %q back: %s", secret, body)
			}
		}
		if got := rows(send("/zoo/notes/-/insert", `{"return": true, "rows": [{"body": "hidden"}]}`, "tc_writer")); got != `[{"rowid":1}]` {
			t.Errorf("insert into a rowid table: rows %s, want the rowid only", got)
		}
		if got := rows(send("/zoo/pairs/-/insert", `{"return": true, "row": {"a": "p", "b": "q", "v": 7}}`, "tc_writer")); got != `[{"a":"p","b":"q"}]` {
			t.Errorf("insert, compound key: rows %s, want the key only", got)
		}
		if body := send("/zoo/dogs/-/upsert", `{"row": {"id": 2}}`, "tc_writer"); strings.Contains(body, `"rows"`) {
			t.Errorf("no return, rows anyway: %s", body)
		}
	})
	t.Run("ReadTokens", func(t *testing.T) {
		for _, secret := range []string{readWrite, testSecret} {
			if got := rows(send("/zoo/dogs/-/upsert", upsert, secret)); got != full {
				t.Errorf("rows %s, want %s", got, full)
			}
		}
	})
	t.Run("Public", func(t *testing.T) {
		e.mustPost("/zoo/dogs/-/publish", ``, http.StatusOK)
		if got := rows(send("/zoo/dogs/-/upsert", upsert, "tc_writer")); got != full {
			t.Errorf("public table: rows %s, want %s", got, full)
		}
		e.mustPost("/zoo/dogs/-/unpublish", ``, http.StatusOK)
		if got := rows(send("/zoo/dogs/-/upsert", upsert, "tc_writer")); got != `[{"id":2}]` {
			t.Errorf("unpublished again: rows %s, want the key only", got)
		}
		e.mustPost("/zoo/-/publish", `{"sql": true}`, http.StatusOK)
		if got := rows(send("/zoo/dogs/-/upsert", upsert, "tc_writer")); got != full {
			t.Errorf("whole database public: rows %s, want %s", got, full)
		}
	})
}

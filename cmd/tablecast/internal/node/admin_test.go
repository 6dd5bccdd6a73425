package node

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/primary"
)

// The cluster routes need the admin scope: 401 without a usable token,
// 403 without the scope.
func TestNode_AuthedNeedsAdmin(t *testing.T) {
	tk, err := primary.NewTokens([]primary.Token{
		{Name: "ops", Hash: primary.HashToken("tc_ops"), Scopes: []string{"admin"}},
		{Name: "bot", Hash: primary.HashToken("tc_bot"), Scopes: []string{"write", "publish"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{tokens: tk, logger: nil}
	h := n.authed(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for secret, want := range map[string]int{"": 401, "tc_nobody": 401, "tc_bot": 403, "tc_ops": http.StatusTeapot} {
		r := httptest.NewRequest(http.MethodGet, "/-/cluster.json", nil)
		if secret != "" {
			r.Header.Set("Authorization", "Bearer "+secret)
		}
		rec := httptest.NewRecorder()
		h(rec, r)
		if rec.Code != want {
			t.Errorf("token %q: %d, want %d: %s", secret, rec.Code, want, rec.Body)
		}
		if got := rec.Header().Get("WWW-Authenticate") != ""; got != (want == 401) {
			t.Errorf("token %q: WWW-Authenticate %q", secret, rec.Header().Get("WWW-Authenticate"))
		}
	}
}

// /-/actor.json (Datasette's, which dclient's actor command reads): null
// without a token, the token's name and scopes with one, 401 for a token
// that is no token.
func TestNode_Actor(t *testing.T) {
	tk, err := primary.NewTokens([]primary.Token{
		{Name: "bot", Hash: primary.HashToken("tc_bot"), Scopes: []string{"write", "publish"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{tokens: tk}
	for secret, want := range map[string]struct {
		status int
		body   string
	}{
		"":          {200, `{"actor":null}`},
		"tc_bot":    {200, `{"actor":{"id":"bot","scopes":["write","publish"],"token":"tablecast"}}`},
		"tc_nobody": {401, `{"error":"Invalid token","ok":false,"status":401}`},
	} {
		r := httptest.NewRequest(http.MethodGet, "/-/actor.json", nil)
		if secret != "" {
			r.Header.Set("Authorization", "Bearer "+secret)
		}
		rec := httptest.NewRecorder()
		n.actor(rec, r)
		if rec.Code != want.status || strings.TrimSpace(rec.Body.String()) != want.body {
			t.Errorf("token %q: %d %s, want %d %s", secret, rec.Code, rec.Body, want.status, want.body)
		}
	}
}

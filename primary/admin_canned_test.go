package primary

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The overview lists canned queries (SQL, the tables each reads,
// parameters, public or private) with a toggle that needs the publish
// scope and a CSRF token.
func TestAdmin_CannedQueries(t *testing.T) {
	e := newAdminEnv(t)
	e.mustPost("/zoo/-/define-query", `{"name": "heavy", "title": "Heavy dogs", "sql": "SELECT name FROM dogs WHERE weight > :min"}`, 200)
	b := e.browser()
	b.signIn(testSecret)
	public := func() string { return e.queryString("zoo", `SELECT public FROM _canned_queries WHERE name = 'heavy'`) }
	_, body := b.get("/-/admin")
	if !regexp.MustCompile(`(?s)query-zoo-heavy.*Heavy dogs.*SELECT name FROM dogs WHERE weight &gt; :min.*<td>dogs</td>.*<td>:min</td>.*class="private">private.*Make public`).MatchString(body) {
		t.Fatalf("overview lacks the query: %s", body)
	}
	resp, body := b.post("/-/admin/toggle-query", url.Values{"csrf": {"forged"}, "db": {"zoo"}, "query": {"heavy"}, "public": {"1"}})
	wantStatus(t, resp, body, http.StatusForbidden)
	if public() != "0" {
		t.Fatalf("public after a forged toggle")
	}
	resp, body = b.post("/-/admin/toggle-query", url.Values{"db": {"zoo"}, "query": {"heavy"}, "public": {"1"}})
	wantStatus(t, resp, body, http.StatusSeeOther)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Path != "/-/admin/applied" || loc.Query().Get("table") != "query:heavy" || loc.Query().Get("txid") == "" || public() != "1" {
		t.Fatalf("redirect to %s, public %s", loc, public())
	}
	if _, body = b.get("/-/admin"); !regexp.MustCompile(`(?s)query-zoo-heavy.*class="public">public.*Make private`).MatchString(body) {
		t.Fatalf("overview after publish: %s", body)
	}
	resp, body = b.post("/-/admin/toggle-query", url.Values{"db": {"zoo"}, "query": {"nope"}, "public": {"1"}})
	wantStatus(t, resp, body, http.StatusNotFound)
	ab := e.browser()
	ab.signIn("tc_admin") // admin only
	resp, body = ab.post("/-/admin/toggle-query", url.Values{"db": {"zoo"}, "query": {"heavy"}, "public": {"0"}})
	wantStatus(t, resp, body, http.StatusForbidden)
	if !strings.Contains(body, "lacks the publish scope") || public() != "1" {
		t.Fatalf("%s; public %s", body, public())
	}
	audit, _ := e.w.Control().Audit(t.Context(), 0, 10)
	found := false
	for _, a := range audit {
		found = found || (a.Action == "publish-query" && a.Target == "query:heavy" && a.DB == "zoo")
	}
	if !found {
		t.Fatalf("admin audit: %+v", audit)
	}
}

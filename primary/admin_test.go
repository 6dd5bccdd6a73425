package primary

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
)

// adminEnv serves the scope env's writer and admin over HTTP.
type adminEnv struct {
	*testEnv
	admin *Admin
	srv   *httptest.Server

	mu    sync.Mutex
	nodes []NodeState // what Nodes reports
}

func newAdminEnv(tb testing.TB) *adminEnv {
	tb.Helper()
	e := &adminEnv{testEnv: newScopeEnv(tb)}
	e.admin = NewAdmin(e.w, e.w.Tokens)
	e.admin.Nodes = func(context.Context) ([]NodeState, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.nodes, nil
	}
	mux := http.NewServeMux()
	mux.Handle("/-/admin", e.admin)
	mux.Handle("/-/admin/", e.admin)
	mux.Handle("/", e.w)
	e.srv = httptest.NewServer(mux)
	tb.Cleanup(e.srv.Close)
	return e
}

// browser is a client with a cookie jar that does not follow redirects.
type browser struct {
	tb     testing.TB
	base   string
	client *http.Client
	csrf   string // from the last page that had a form
}

func (e *adminEnv) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{tb: e.tb, base: e.srv.URL, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.tb.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if m := csrfField.FindSubmatch(raw); m != nil {
		b.csrf = string(m[1])
	}
	return resp, string(raw)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	return b.do(req)
}

// post sends a form; the csrf field is added unless form sets it.
func (b *browser) post(path string, form url.Values, hdr ...string) (*http.Response, string) {
	b.tb.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// signIn signs in with a secret and fails unless it works.
func (b *browser) signIn(secret string) {
	b.tb.Helper()
	b.get("/-/admin/login")
	resp, body := b.post("/-/admin/login", url.Values{"token": {secret}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/-/admin" {
		b.tb.Fatalf("sign in: %d %s", resp.StatusCode, body)
	}
	if _, body := b.get("/-/admin"); !strings.Contains(body, "Signed in as") {
		b.tb.Fatalf("after sign in: %s", body)
	}
}

func wantStatus(tb testing.TB, resp *http.Response, body string, want int) {
	tb.Helper()
	if resp.StatusCode != want {
		tb.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body)
	}
}

func TestAdmin_SignIn(t *testing.T) {
	e := newAdminEnv(t)
	t.Run("PagesNeedASession", func(t *testing.T) {
		b := e.browser()
		for _, p := range []string{"/-/admin", "/-/admin/", "/-/admin/audit", "/-/admin/tokens", "/-/admin/applied?db=zoo&txid=1"} {
			resp, body := b.get(p)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/-/admin/login" {
				t.Errorf("GET %s without a session: %d %q %s", p, resp.StatusCode, resp.Header.Get("Location"), body)
			}
		}
		for _, p := range []string{"/-/admin/toggle", "/-/admin/tokens", "/-/admin/tokens/revoke", "/-/admin/logout"} {
			resp, body := b.post(p, url.Values{"db": {"zoo"}, "table": {"dogs"}, "public": {"1"}})
			wantStatus(t, resp, body, http.StatusUnauthorized)
		}
	})
	t.Run("FormWithoutCSRF", func(t *testing.T) {
		b := e.browser()
		b.get("/-/admin/login")
		for _, csrf := range []string{"", "forged"} {
			resp, body := b.post("/-/admin/login", url.Values{"token": {testSecret}, "csrf": {csrf}})
			wantStatus(t, resp, body, http.StatusForbidden)
			if resp.Header.Get("Set-Cookie") != "" && strings.Contains(resp.Header.Get("Set-Cookie"), sessionCookie) {
				t.Fatalf("session cookie set without CSRF: %v", resp.Header)
			}
		}
	})
	t.Run("WithoutTheLoginCookie", func(t *testing.T) {
		b := e.browser()
		b.get("/-/admin/login")
		nonce := b.csrf
		other := e.browser() // never loaded the form: has no nonce cookie
		resp, body := other.post("/-/admin/login", url.Values{"token": {testSecret}, "csrf": {nonce}})
		wantStatus(t, resp, body, http.StatusForbidden)
	})
	t.Run("BadTokens", func(t *testing.T) {
		for _, tt := range []struct {
			secret string
			status int
			msg    string
		}{
			{"", http.StatusUnauthorized, "Invalid token"},
			{"tc_nobody", http.StatusUnauthorized, "Invalid token"},
			{"tc_writer", http.StatusForbidden, "lacks the admin scope"},
			{"tc_publisher", http.StatusForbidden, "lacks the admin scope"},
		} {
			b := e.browser()
			b.get("/-/admin/login")
			resp, body := b.post("/-/admin/login", url.Values{"token": {tt.secret}})
			wantStatus(t, resp, body, tt.status)
			if !strings.Contains(body, tt.msg) {
				t.Errorf("sign in with %q: want %q in %s", tt.secret, tt.msg, body)
			}
		}
	})
	t.Run("Cookies", func(t *testing.T) {
		for _, https := range []bool{false, true} {
			b := e.browser()
			b.get("/-/admin/login")
			var hdr []string
			if https {
				hdr = []string{"X-Forwarded-Proto", "https"}
			}
			resp, body := b.post("/-/admin/login", url.Values{"token": {testSecret}}, hdr...)
			wantStatus(t, resp, body, http.StatusSeeOther)
			var c *http.Cookie
			for _, k := range resp.Cookies() {
				if k.Name == sessionCookie {
					c = k
				}
			}
			if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/-/admin" || c.Secure != https {
				t.Fatalf("https=%v: session cookie %+v", https, c)
			}
		}
	})
	t.Run("SessionOnlyHashed", func(t *testing.T) {
		b := e.browser()
		b.signIn(testSecret)
		u, _ := url.Parse(e.srv.URL + "/-/admin")
		var id string
		for _, c := range b.client.Jar.Cookies(u) {
			if c.Name == sessionCookie {
				id = c.Value
			}
		}
		dump := e.snapshot(ControlDBName)
		if id == "" || strings.Contains(dump, id) || !strings.Contains(dump, HashToken(id)) {
			t.Fatalf("session %q: want only its hash stored:\n%s", id, dump)
		}
	})
}

func TestAdmin_Forms(t *testing.T) {
	e := newAdminEnv(t)
	b := e.browser()
	b.signIn(testSecret)
	public := func() string { return e.queryString("zoo", `SELECT table_name FROM _public_tables ORDER BY 1`) }

	t.Run("ToggleWithoutCSRF", func(t *testing.T) {
		for _, csrf := range []string{"", "forged", csrfFor("another-session")} {
			resp, body := b.post("/-/admin/toggle", url.Values{"csrf": {csrf}, "db": {"zoo"}, "table": {"dogs"}, "public": {"1"}})
			wantStatus(t, resp, body, http.StatusForbidden)
		}
		if got := public(); got != "" {
			t.Fatalf("public after refused toggles: %q", got)
		}
	})
	t.Run("CrossSite", func(t *testing.T) {
		resp, body := b.post("/-/admin/toggle", url.Values{"db": {"zoo"}, "table": {"dogs"}, "public": {"1"}}, "Sec-Fetch-Site", "cross-site")
		wantStatus(t, resp, body, http.StatusForbidden)
	})
	t.Run("Toggle", func(t *testing.T) {
		b.get("/-/admin")
		resp, body := b.post("/-/admin/toggle", url.Values{"db": {"zoo"}, "table": {"DOGS"}, "public": {"1"}})
		wantStatus(t, resp, body, http.StatusSeeOther)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc.Path != "/-/admin/applied" || loc.Query().Get("table") != "dogs" || loc.Query().Get("txid") == "" {
			t.Fatalf("redirect to %s", loc)
		}
		if got := public(); got != "dogs" {
			t.Fatalf("public %q", got)
		}
		_, body = b.get("/-/admin")
		if !regexp.MustCompile(`(?s)row-zoo-dogs.*class="public">public.*publish by alice`).MatchString(body) {
			t.Errorf("overview does not show dogs public: %s", body)
		}
		resp, body = b.post("/-/admin/toggle", url.Values{"db": {"zoo"}, "table": {"dogs"}, "public": {"0"}})
		wantStatus(t, resp, body, http.StatusSeeOther)
		if got := public(); got != "" {
			t.Fatalf("public after unpublish %q", got)
		}
	})
	t.Run("ToggleBadNames", func(t *testing.T) {
		for _, f := range []url.Values{
			{"db": {ControlDBName}, "table": {"tokens"}, "public": {"1"}},
			{"db": {"zoo"}, "table": {"_public_tables"}, "public": {"1"}},
			{"db": {"zoo"}, "table": {"sqlite_master"}, "public": {"1"}},
			{"db": {"nope"}, "table": {"dogs"}, "public": {"1"}},
			{"db": {"zoo"}, "table": {"nope"}, "public": {"1"}},
		} {
			resp, body := b.post("/-/admin/toggle", f)
			if resp.StatusCode != 400 && resp.StatusCode != 404 {
				t.Errorf("toggle %v: %d %s", f, resp.StatusCode, body)
			}
		}
	})
	t.Run("ToggleNeedsPublishScope", func(t *testing.T) {
		ab := e.browser()
		ab.signIn("tc_admin") // admin only
		resp, body := ab.post("/-/admin/toggle", url.Values{"db": {"zoo"}, "table": {"dogs"}, "public": {"1"}})
		wantStatus(t, resp, body, http.StatusForbidden)
		if !strings.Contains(body, "lacks the publish scope") || public() != "" {
			t.Fatalf("%s; public %q", body, public())
		}
	})
	t.Run("Logout", func(t *testing.T) {
		lb := e.browser()
		lb.signIn(testSecret)
		u, _ := url.Parse(e.srv.URL + "/-/admin")
		old := lb.client.Jar.Cookies(u)
		resp, body := lb.post("/-/admin/logout", url.Values{})
		wantStatus(t, resp, body, http.StatusSeeOther)
		// The old cookie is dead on the server, not just in the browser.
		replay := e.browser()
		replay.client.Jar.SetCookies(u, old)
		if resp, _ := replay.get("/-/admin"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("old session after logout: %d", resp.StatusCode)
		}
	})
}

// A session ends as soon as its token is revoked or expires.
func TestAdmin_SessionEndsWithToken(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	now := time.Now()
	e.w.Tokens.Now = func() time.Time { return now }
	_, revSecret, _, err := e.w.Tokens.Create(ctx, NewToken{Name: "rev", Scopes: []string{"admin"}}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, expSecret, _, err := e.w.Tokens.Create(ctx, NewToken{Name: "exp", Scopes: []string{"admin"}, Expires: "2h"}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	rev, exp := e.browser(), e.browser()
	rev.signIn(revSecret)
	exp.signIn(expSecret)
	if _, _, err := e.w.Tokens.Revoke(ctx, "rev", "alice"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := rev.get("/-/admin"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("session of a revoked token: %d", resp.StatusCode)
	}
	if resp, _ := exp.get("/-/admin"); resp.StatusCode != http.StatusOK {
		t.Errorf("session of a live token: %d", resp.StatusCode)
	}
	now = now.Add(2 * time.Hour)
	if resp, _ := exp.get("/-/admin"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("session of an expired token: %d", resp.StatusCode)
	}
	b := e.browser()
	b.get("/-/admin/login")
	resp, body := b.post("/-/admin/login", url.Values{"token": {expSecret}})
	wantStatus(t, resp, body, http.StatusUnauthorized)
}

func TestAdmin_Applied(t *testing.T) {
	e := newAdminEnv(t)
	b := e.browser()
	b.signIn(testSecret)
	b.get("/-/admin")
	resp, _ := b.post("/-/admin/toggle", url.Values{"db": {"zoo"}, "table": {"dogs"}, "public": {"1"}})
	loc := resp.Header.Get("Location")
	u, _ := url.Parse(loc)
	txid, _ := tablecast.ParseTXID(u.Query().Get("txid"))
	set := func(lhr, syd tablecast.TXID, sydUp bool) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.nodes = []NodeState{
			{Name: "lhr-1", Region: "lhr", Role: "primary", Reachable: true, TXIDs: map[string]tablecast.TXID{"zoo": lhr}},
			{Name: "syd-1", Region: "syd", Role: "replica", Reachable: sydUp, TXIDs: map[string]tablecast.TXID{"zoo": syd}},
		}
	}
	set(txid, txid-1, true)
	_, body := b.get(loc)
	if !strings.Contains(body, `http-equiv="refresh"`) || !strings.Contains(body, "still serves the old state") || strings.Contains(body, `id="done"`) {
		t.Fatalf("pending page: %s", body)
	}
	set(txid, txid, false)
	if _, body = b.get(loc); !strings.Contains(body, "unreachable") || !strings.Contains(body, `http-equiv="refresh"`) {
		t.Fatalf("unreachable page: %s", body)
	}
	set(txid+1, txid, true)
	if _, body = b.get(loc); strings.Contains(body, `http-equiv="refresh"`) || !strings.Contains(body, "Applied on every node") {
		t.Fatalf("done page: %s", body)
	}
	t.Run("JSON", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/-/admin/applied.json?db=zoo&txid="+txid.String(), nil)
		r.Header.Set("Authorization", "Bearer tc_admin")
		rec := httptest.NewRecorder()
		e.admin.ServeHTTP(rec, r)
		m := decodeJSON(t, rec)
		if rec.Code != 200 || m["done"] != true || len(m["nodes"].([]any)) != 2 {
			t.Fatalf("applied.json: %d %v", rec.Code, m)
		}
	})
}

func TestAdmin_AuditAndTokenPages(t *testing.T) {
	e := newAdminEnv(t)
	b := e.browser()
	b.signIn(testSecret)
	for i := range auditPageSize + 5 {
		if _, _, _, err := e.w.Tokens.Create(context.Background(), NewToken{Name: fmt.Sprintf("t%02d", i), Scopes: []string{"write"}}, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	_, body := b.get("/-/admin/audit")
	rows := strings.Count(body, "<tr><td>")
	older := regexp.MustCompile(`href="/-/admin/audit\?before=(\d+)" id="older"`).FindStringSubmatch(body)
	if rows != auditPageSize || older == nil || !strings.Contains(body, "token-create") || !strings.Contains(body, "t54") {
		t.Fatalf("first audit page: %d rows, older %v", rows, older)
	}
	_, body = b.get("/-/admin/audit?before=" + older[1])
	if rows := strings.Count(body, "<tr><td>"); rows != 6 || strings.Contains(body, `id="older"`) || !strings.Contains(body, "sign-in") {
		t.Fatalf("second audit page: %d rows: %s", rows, body)
	}

	t.Run("CreateAndRevoke", func(t *testing.T) {
		b.get("/-/admin/tokens")
		resp, body := b.post("/-/admin/tokens", url.Values{"name": {"ui-bot"}, "scope": {"write", "publish"}, "expires": {"30d"}})
		wantStatus(t, resp, body, http.StatusCreated)
		secret := regexp.MustCompile(`<pre>(tc_[A-Za-z0-9_-]+)</pre>`).FindStringSubmatch(body)
		if secret == nil {
			t.Fatalf("no secret shown: %s", body)
		}
		if got := e.request(http.MethodPost, "/zoo/notes/-/insert", `{"row":{"body":"x"}}`, "Bearer "+secret[1]).Code; got != 201 {
			t.Fatalf("insert with the new token: %d", got)
		}
		if _, again := b.get("/-/admin/tokens"); strings.Contains(again, secret[1]) {
			t.Fatal("the secret is shown twice")
		}
		resp, body = b.post("/-/admin/tokens", url.Values{"name": {"ui-bot"}, "scope": {"write"}})
		wantStatus(t, resp, body, http.StatusConflict)
		resp, body = b.post("/-/admin/tokens/revoke", url.Values{"name": {"ui-bot"}, "csrf": {""}})
		wantStatus(t, resp, body, http.StatusForbidden)
		resp, body = b.post("/-/admin/tokens/revoke", url.Values{"name": {"ui-bot"}})
		wantStatus(t, resp, body, http.StatusSeeOther)
		if got := e.request(http.MethodPost, "/zoo/notes/-/insert", `{"row":{"body":"x"}}`, "Bearer "+secret[1]).Code; got != 401 {
			t.Fatalf("insert with the revoked token: %d", got)
		}
	})
	t.Run("ReadScope", func(t *testing.T) {
		if _, page := b.get("/-/admin/tokens"); !strings.Contains(page, `name="scope" value="read"`) {
			t.Fatalf("the token form offers no read scope: %s", page)
		}
		resp, body := b.post("/-/admin/tokens", url.Values{"name": {"ui-reader"}, "scope": {"read"}})
		wantStatus(t, resp, body, http.StatusCreated)
		secret := regexp.MustCompile(`<pre>(tc_[A-Za-z0-9_-]+)</pre>`).FindStringSubmatch(body)
		if secret == nil {
			t.Fatalf("no secret shown: %s", body)
		}
		r := httptest.NewRequest(http.MethodGet, "/zoo/dogs.json", nil)
		r.Header.Set("Authorization", "Bearer "+secret[1])
		if ok, err := e.w.Tokens.ReadsPrivate(r); !ok || err != nil {
			t.Fatalf("the read token made in the pages: %v %v", ok, err)
		}
		if got := e.request(http.MethodPost, "/zoo/notes/-/insert", `{"row":{"body":"x"}}`, "Bearer "+secret[1]).Code; got != 403 {
			t.Fatalf("insert with a read token: %d, want 403", got)
		}
	})
	t.Run("HTMLIsEscaped", func(t *testing.T) {
		e.exec("zoo", `CREATE TABLE "x<script>" (a)`)
		_, body := b.get("/-/admin")
		if strings.Contains(body, "x<script>") || !strings.Contains(body, "x&lt;script&gt;") {
			t.Fatalf("table name not escaped")
		}
	})
}

// The admin API needs a bearer token with the admin scope, and ignores
// session cookies.
func TestAdmin_API(t *testing.T) {
	e := newAdminEnv(t)
	call := func(method, path, body, secret string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		if secret != "" {
			req.Header.Set("Authorization", "Bearer "+secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	routes := []struct{ method, path, body string }{
		{"GET", "/-/admin/api/tokens", ""},
		{"POST", "/-/admin/api/tokens", `{"name":"x%d","scopes":["write"]}`},
		{"POST", "/-/admin/api/tokens/nobody/revoke", ""},
		{"GET", "/-/admin/api/audit", ""},
		{"GET", "/-/admin/applied.json?db=zoo&txid=1", ""},
	}
	for i, rt := range routes {
		body := strings.Replace(rt.body, "%d", fmt.Sprint(i), 1)
		for _, secret := range []string{"", "tc_nobody", "tc_writer", "tc_publisher"} {
			status, m := call(rt.method, rt.path, body, secret)
			want := http.StatusForbidden
			if secret == "" || secret == "tc_nobody" {
				want = http.StatusUnauthorized
			}
			if status != want || m["ok"] != false {
				t.Errorf("%s %s with %q: %d %v, want %d", rt.method, rt.path, secret, status, m, want)
			}
		}
		status, m := call(rt.method, rt.path, body, "tc_admin")
		if status/100 != 2 && !(strings.Contains(rt.path, "nobody") && status == 404) {
			t.Errorf("%s %s as admin: %d %v", rt.method, rt.path, status, m)
		}
	}

	status, m := call("POST", "/-/admin/api/tokens", `{"name":"ci","scopes":["write","publish"],"expires":"30d"}`, "tc_admin")
	secret, _ := m["secret"].(string)
	if status != 201 || !strings.HasPrefix(secret, SecretPrefix) || m["txid"] == "" {
		t.Fatalf("create: %d %v", status, m)
	}
	tok := m["token"].(map[string]any)
	if tok["name"] != "ci" || fmt.Sprint(tok["scopes"]) != "[write publish]" || tok["expires_at"] == nil || tok["state"] != "active" {
		t.Fatalf("created token %v", tok)
	}
	if status, m := call("POST", "/-/admin/api/tokens", `{"name":"ci","scopes":["write"]}`, "tc_admin"); status != 409 {
		t.Errorf("duplicate: %d %v", status, m)
	}
	if status, m := call("POST", "/-/admin/api/tokens", `{"name":"y","scopes":["write"],"owner":"me"}`, "tc_admin"); status != 400 {
		t.Errorf("unknown key: %d %v", status, m)
	}
	if status, _ := call("GET", "/-/admin/api/tokens", "", secret); status != 403 {
		t.Errorf("list with a write,publish token: %d", status)
	}
	_, m = call("GET", "/-/admin/api/tokens", "", "tc_admin")
	if list := fmt.Sprint(m["tokens"]); strings.Contains(list, secret) || strings.Contains(list, HashToken(secret)) || !strings.Contains(list, "name:ci") {
		t.Fatalf("list: %s", list)
	}
	if status, m := call("POST", "/-/admin/api/tokens/ci/revoke", "", "tc_admin"); status != 200 || m["token"].(map[string]any)["state"] != "revoked" {
		t.Fatalf("revoke: %d %v", status, m)
	}
	if status, m := call("POST", "/zoo/notes/-/insert", `{"row":{"body":"x"}}`, secret); status != 401 || !strings.Contains(fmt.Sprint(m["error"]), "revoked") {
		t.Fatalf("write with a revoked token: %d %v", status, m)
	}
	_, m = call("GET", "/-/admin/api/audit?limit=2", "", "tc_admin")
	entries := m["entries"].([]any)
	if len(entries) != 2 || entries[0].(map[string]any)["action"] != "token-revoke" || m["next"] == nil {
		t.Fatalf("audit: %v", m)
	}

	t.Run("PublishAuditedWithTXID", func(t *testing.T) {
		rec := e.request(http.MethodPost, "/zoo/dogs/-/publish", ``, "Bearer tc_publisher")
		txid := decodeJSON(t, rec)["txid"]
		_, m := call("GET", "/-/admin/api/audit?limit=1", "", "tc_admin")
		got := m["entries"].([]any)[0].(map[string]any)
		if got["action"] != "publish" || got["db"] != "zoo" || got["target"] != "dogs" || got["token"] != "publisher" || got["txid"] != txid {
			t.Fatalf("audit entry %v, want publish zoo.dogs by publisher at %v", got, txid)
		}
	})
	t.Run("CookiesDoNotCount", func(t *testing.T) {
		b := e.browser()
		b.signIn(testSecret)
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/-/admin/api/tokens", strings.NewReader(`{"name":"csrf-bot","scopes":["admin"]}`))
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("API call with only a session cookie: %d", resp.StatusCode)
		}
	})
}

func TestAdmin_ToggleDatabase(t *testing.T) {
	e := newAdminEnv(t)
	b := e.browser()
	b.signIn(testSecret)
	switches := func() string {
		return e.queryString("zoo", `SELECT all_tables, allow_sql FROM _public_database`)
	}
	resp, body := b.post("/-/admin/toggle-db", url.Values{"csrf": {"forged"}, "db": {"zoo"}, "all": {"1"}, "sql": {"1"}})
	wantStatus(t, resp, body, http.StatusForbidden)
	if got := e.queryString("zoo", `SELECT count(*) FROM sqlite_master WHERE name = '_public_database'`); got != "0" {
		t.Fatalf("a forged form changed the database: %q", got)
	}
	b.get("/-/admin")
	for _, tc := range []struct{ all, sql, want, shown string }{
		{"1", "1", "1|1", `every table public</span>,\s*public SQL <span class="public">on`},
		{"0", "1", "0|1", `only the tables marked public</span>,\s*public SQL <span class="public">on`},
		{"0", "0", "0|0", `public SQL <span class="private">off`},
	} {
		resp, body := b.post("/-/admin/toggle-db", url.Values{"db": {"zoo"}, "all": {tc.all}, "sql": {tc.sql}})
		wantStatus(t, resp, body, http.StatusSeeOther)
		if loc, _ := url.Parse(resp.Header.Get("Location")); loc.Path != "/-/admin/applied" || loc.Query().Get("txid") == "" {
			t.Fatalf("redirect to %s", loc)
		}
		if got := switches(); got != tc.want {
			t.Fatalf("all=%s sql=%s: switches %q, want %q", tc.all, tc.sql, got, tc.want)
		}
		if _, page := b.get("/-/admin"); !regexp.MustCompile(tc.shown).MatchString(page) {
			t.Fatalf("overview does not show %q", tc.shown)
		}
	}
}

package routing

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
)

// fakeNode is a node whose cluster state the test sets.
type fakeNode struct {
	mu         sync.Mutex
	ready      bool
	primary    bool
	primaryURL string
	nodeURL    string // "": primaryURL
	lag        time.Duration
	txid       tablecast.TXID
	changed    chan struct{}
}

func newFakeNode() *fakeNode { return &fakeNode{ready: true, changed: make(chan struct{})} }

func (n *fakeNode) Ready() bool        { n.mu.Lock(); defer n.mu.Unlock(); return n.ready }
func (n *fakeNode) IsPrimary() bool    { n.mu.Lock(); defer n.mu.Unlock(); return n.primary }
func (n *fakeNode) PrimaryURL() string { n.mu.Lock(); defer n.mu.Unlock(); return n.primaryURL }
func (n *fakeNode) PrimaryNodeURL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nodeURL != "" {
		return n.nodeURL
	}
	return n.primaryURL
}
func (n *fakeNode) PrimaryName() string { return "lhr-1" }
func (n *fakeNode) Lag() time.Duration  { n.mu.Lock(); defer n.mu.Unlock(); return n.lag }
func (n *fakeNode) TXID(string) (tablecast.TXID, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.txid, true
}

func (n *fakeNode) setTXID(t tablecast.TXID) {
	n.mu.Lock()
	n.txid = t
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

func (n *fakeNode) WaitTXID(ctx context.Context, db string, want tablecast.TXID) error {
	for {
		n.mu.Lock()
		have, ch := n.txid, n.changed
		n.mu.Unlock()
		if have >= want {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// echo answers with who served and the request's body.
func echo(who string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set(tablecast.HeaderTXID, "0000000000000007")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(who + ":" + r.Method + ":" + string(b)))
	})
}

// silentNode is a fakeNode that says how long it has not heard from the
// primary.
type silentNode struct {
	*fakeNode
	silence time.Duration
}

func (n *silentNode) Silence() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.silence
}

func newRouter(n *fakeNode, cfg Config) *Router {
	rt := New(n, cfg)
	rt.Reads, rt.Writes = echo("local-read"), echo("local-write")
	return rt
}

func do(t *testing.T, h http.Handler, method, target, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestRouter_Writes(t *testing.T) {
	primary := httptest.NewServer(newRouter(&fakeNode{ready: true, primary: true, changed: make(chan struct{})}, Config{}))
	defer primary.Close()

	t.Run("PrimaryServesAndSetsCookie", func(t *testing.T) {
		n := newFakeNode()
		n.primary = true
		w := do(t, newRouter(n, Config{}), "POST", "/shop/t/-/insert", "{}")
		if w.Code != 201 || !strings.Contains(w.Header().Get("Set-Cookie"), "__txid=shop:0000000000000007") {
			t.Fatalf("code %d cookie %q", w.Code, w.Header().Get("Set-Cookie"))
		}
	})
	t.Run("ProxyForwardsBodyIntact", func(t *testing.T) {
		n := newFakeNode()
		n.primaryURL = primary.URL
		body := strings.Repeat("x", 100000)
		w := do(t, newRouter(n, Config{}), "POST", "/shop/t/-/insert?a=1", body)
		if w.Code != 201 || w.Body.String() != "local-write:POST:"+body {
			t.Fatalf("code %d body %.80q", w.Code, w.Body.String())
		}
		if !strings.Contains(w.Header().Get("Set-Cookie"), "__txid=") {
			t.Fatal("forwarded write lost its bookmark cookie")
		}
	})
	t.Run("ProxyLetsGoOfAReplacedPrimary", func(t *testing.T) {
		// A primary cut off silently: it takes the request and never
		// answers. Once the cluster names another primary, the forward ends
		// with a 502 (the write may or may not have been applied) instead of
		// holding the client for the transport's 30 s.
		arrived, release := make(chan struct{}), make(chan struct{})
		hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer hung.Close()
		defer close(release)
		n := newFakeNode()
		n.primaryURL = hung.URL
		go func() {
			<-arrived
			n.mu.Lock()
			n.nodeURL = "https://new-primary.invalid:20204"
			n.mu.Unlock()
		}()
		start := time.Now()
		w := do(t, newRouter(n, Config{}), "POST", "/shop/t/-/insert", "{}")
		if w.Code != 502 || !strings.Contains(w.Body.String(), "may or may not have been applied") {
			t.Fatalf("code %d body %s", w.Code, w.Body)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("the forward held the client %s after the primary changed", took)
		}
	})
	t.Run("ProxyRefusesOversizedBody", func(t *testing.T) {
		n := newFakeNode()
		n.primaryURL = primary.URL
		w := do(t, newRouter(n, Config{MaxBody: 10}), "POST", "/shop/t/-/insert", strings.Repeat("x", 1000))
		if w.Code != 413 {
			t.Fatalf("code %d, want 413: %s", w.Code, w.Body)
		}
	})
	t.Run("Redirect", func(t *testing.T) {
		n := newFakeNode()
		n.primaryURL = "http://primary:8080"
		w := do(t, newRouter(n, Config{WriteMode: WriteRedirect}), "POST", "/shop/t/-/insert?x=1", "{}")
		if w.Code != 307 || w.Header().Get("Location") != "http://primary:8080/shop/t/-/insert?x=1" {
			t.Fatalf("code %d location %q", w.Code, w.Header().Get("Location"))
		}
	})
	t.Run("FlyReplay", func(t *testing.T) {
		w := do(t, newRouter(newFakeNode(), Config{WriteMode: WriteFlyReplay}), "POST", "/shop/t/-/insert", "{}")
		if w.Header().Get("fly-replay") != "instance=lhr-1" {
			t.Fatalf("fly-replay %q", w.Header().Get("fly-replay"))
		}
	})
	t.Run("NoPrimary503", func(t *testing.T) {
		start := time.Now()
		w := do(t, newRouter(newFakeNode(), Config{PrimaryWait: 100 * time.Millisecond}), "POST", "/shop/t/-/insert", "{}")
		if w.Code != 503 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `"ok":false`) {
			t.Fatalf("code %d retry %q body %s", w.Code, w.Header().Get("Retry-After"), w.Body)
		}
		if time.Since(start) < 100*time.Millisecond {
			t.Fatal("did not wait for a primary")
		}
	})
	t.Run("PrimaryUnreachable503", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		n := newFakeNode()
		n.primaryURL = dead.URL
		w := do(t, newRouter(n, Config{}), "POST", "/shop/t/-/insert", "{}")
		if w.Code != 503 || w.Header().Get("Retry-After") == "" {
			t.Fatalf("code %d retry %q body %s", w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	})
	t.Run("ForwardGoesToNodeURL", func(t *testing.T) {
		n := newFakeNode()
		n.primaryURL, n.nodeURL = "http://public.invalid:8080", primary.URL
		if w := do(t, newRouter(n, Config{}), "POST", "/shop/t/-/insert", "{}"); w.Code != 201 {
			t.Fatalf("code %d body %s: want the write forwarded to the node URL", w.Code, w.Body)
		}
	})
	t.Run("PrimaryOverTLS", func(t *testing.T) {
		tlsPrimary := httptest.NewTLSServer(primary.Config.Handler)
		defer tlsPrimary.Close()
		n := newFakeNode()
		n.primaryURL = tlsPrimary.URL
		rt := newRouter(n, Config{})
		rt.Transport = tlsPrimary.Client().Transport // trusts its certificate
		if w := do(t, rt, "POST", "/shop/t/-/insert", "{}"); w.Code != 201 {
			t.Fatalf("code %d body %s", w.Code, w.Body)
		}
	})
	t.Run("PrimaryFailsTLSVerification503", func(t *testing.T) {
		// A "primary" whose certificate does not verify gets nothing: not
		// the body, not the bearer token.
		var reached atomic.Bool
		impostor := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Store(true) }))
		defer impostor.Close()
		n := newFakeNode()
		n.primaryURL = impostor.URL
		rt := newRouter(n, Config{PrimaryWait: 100 * time.Millisecond})
		rt.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}
		w := do(t, rt, "POST", "/shop/t/-/insert", "{}", "Authorization", "Bearer secret")
		if w.Code != 503 || !strings.Contains(w.Body.String(), "nothing was written") {
			t.Fatalf("code %d body %s, want 503 nothing written", w.Code, w.Body)
		}
		if reached.Load() {
			t.Fatal("the request reached a primary that failed verification")
		}
	})
	t.Run("ForwardedToNonPrimary503", func(t *testing.T) {
		n := newFakeNode()
		n.primaryURL = primary.URL
		w := do(t, newRouter(n, Config{}), "POST", "/shop/t/-/insert", "{}", HeaderForwarded, "syd-1")
		if w.Code != 503 {
			t.Fatalf("code %d, want 503 (no forwarding loops)", w.Code)
		}
	})
}

func TestRouter_Reads(t *testing.T) {
	// The stand-in primary answers "primary-read", so a replica that
	// forwards a read it should serve itself ("local-read") fails.
	stand := newRouter(&fakeNode{ready: true, primary: true, txid: 100, changed: make(chan struct{})}, Config{})
	stand.Reads = echo("primary-read")
	primary := httptest.NewServer(stand)
	defer primary.Close()
	replica := func(cfg Config) (*fakeNode, *Router) {
		n := newFakeNode()
		n.primaryURL, n.txid = primary.URL, 5
		return n, newRouter(n, cfg)
	}

	t.Run("FreshEnoughServedHere", func(t *testing.T) {
		_, rt := replica(Config{})
		for _, hdr := range [][]string{nil, {HeaderTXIDIn, "5"}, {"Cookie", "__txid=shop:0000000000000004"}} {
			w := do(t, rt, "GET", "/shop/t.json", "", hdr...)
			if !strings.HasPrefix(w.Body.String(), "local-read") {
				t.Fatalf("%v: served by %s", hdr, w.Body)
			}
		}
	})
	t.Run("BookmarkWaitsThenServesHere", func(t *testing.T) {
		n, rt := replica(Config{})
		go func() {
			time.Sleep(20 * time.Millisecond)
			n.setTXID(9)
		}()
		w := do(t, rt, "GET", "/shop/t.json?_txid=9", "")
		if !strings.HasPrefix(w.Body.String(), "local-read") {
			t.Fatalf("served by %s", w.Body)
		}
	})
	t.Run("FutureBookmarkFallsBackToPrimary", func(t *testing.T) {
		_, rt := replica(Config{BookmarkWait: 50 * time.Millisecond})
		w := do(t, rt, "GET", "/shop/t.json", "", "Cookie", "__txid=shop:0000000000000009")
		if !strings.HasPrefix(w.Body.String(), "primary-read") || w.Header().Get(HeaderServedBy) != "primary" {
			t.Fatalf("served by %s (%q)", w.Body, w.Header().Get(HeaderServedBy))
		}
	})
	t.Run("FutureBookmarkRefused504", func(t *testing.T) {
		_, rt := replica(Config{BookmarkWait: 50 * time.Millisecond, StaleMode: StaleRefuse})
		start := time.Now()
		w := do(t, rt, "GET", "/shop/t.json", "", HeaderTXIDIn, "0000000000000009")
		if w.Code != 504 || time.Since(start) < 50*time.Millisecond {
			t.Fatalf("code %d after %s: %s", w.Code, time.Since(start), w.Body)
		}
	})
	t.Run("MaxLag", func(t *testing.T) {
		n, rt := replica(Config{StaleMode: StaleRefuse})
		n.lag = 800 * time.Millisecond
		if w := do(t, rt, "GET", "/shop/t.json?_max_lag=500ms", ""); w.Code != 504 {
			t.Fatalf("lagging: code %d", w.Code)
		}
		if w := do(t, rt, "GET", "/shop/t.json?_max_lag=2s", ""); w.Code != 201 {
			t.Fatalf("within bound: code %d", w.Code)
		}
		for _, bad := range []string{"soon", "0s", "-1s", "99ms", "1ns"} {
			if w := do(t, rt, "GET", "/shop/t.json?_max_lag="+bad, ""); w.Code != 400 || !strings.Contains(w.Body.String(), "at least 100ms") {
				t.Fatalf("_max_lag=%s: code %d %s", bad, w.Code, w.Body)
			}
		}
		if w := do(t, rt, "GET", "/shop/t.json?_max_lag=100ms", ""); w.Code != 504 {
			t.Fatalf("_max_lag at the floor: code %d", w.Code)
		}
		if got := do(t, rt, "GET", "/shop/t.json", "").Header().Get(HeaderLag); got != "800" {
			t.Fatalf("lag header %q", got)
		}
	})
	t.Run("BadBookmark400", func(t *testing.T) {
		_, rt := replica(Config{})
		if w := do(t, rt, "GET", "/shop/t.json?_txid=zz", ""); w.Code != 400 {
			t.Fatalf("code %d", w.Code)
		}
	})
	t.Run("NotReady503", func(t *testing.T) {
		n, rt := replica(Config{})
		n.ready = false
		if w := do(t, rt, "GET", "/shop/t.json", ""); w.Code != 503 || w.Header().Get("Retry-After") == "" {
			t.Fatalf("code %d", w.Code)
		}
	})
	t.Run("RevocationBound503", func(t *testing.T) {
		n := newFakeNode()
		n.primaryURL = "http://primary.invalid"
		sn := &silentNode{fakeNode: n}
		rt := New(sn, Config{RevocationBound: 3 * time.Second})
		rt.Reads, rt.Writes, rt.Admin = echo("local-read"), echo("local-write"), echo("admin")
		sn.silence = 2900 * time.Millisecond
		if w := do(t, rt, "GET", "/shop/t.json", ""); w.Code != 201 {
			t.Fatalf("within the bound: code %d %s", w.Code, w.Body)
		}
		sn.silence = 3100 * time.Millisecond
		for _, m := range []string{"GET", "HEAD"} {
			w := do(t, rt, m, "/shop/t.json", "")
			if w.Code != 503 || w.Header().Get("Retry-After") == "" || w.Header().Get(HeaderServedBy) != "" || w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("%s past the bound: code %d %s", m, w.Code, w.Body)
			}
			if m == "GET" && (!strings.Contains(w.Body.String(), "revocation-bound 3s") || !strings.Contains(w.Body.String(), `"status":503`)) {
				t.Fatalf("body %s", w.Body)
			}
		}
		if w := do(t, rt, "GET", "/-/readyz", ""); w.Code == 503 {
			t.Fatalf("the node's own routes are not public reads: %d", w.Code)
		}
		n.primary = true // the primary is exempt
		if w := do(t, rt, "GET", "/shop/t.json", ""); w.Code != 201 {
			t.Fatalf("primary: code %d %s", w.Code, w.Body)
		}
	})
	t.Run("MethodsHeadOptions", func(t *testing.T) {
		_, rt := replica(Config{})
		if w := do(t, rt, "OPTIONS", "/shop/t.json", ""); w.Code != 204 || w.Header().Get("Allow") == "" {
			t.Fatalf("OPTIONS: %d", w.Code)
		}
		if w := do(t, rt, "DELETE", "/shop/t.json", ""); w.Code != 405 {
			t.Fatalf("DELETE: %d", w.Code)
		}
	})
}

func TestBookmarkCookie(t *testing.T) {
	m := parseCookie("shop:000000000000000a.demo:3.bad.x:zz.-no:1")
	if len(m) != 2 || m["shop"] != 10 || m["demo"] != 3 {
		t.Fatalf("parsed %v", m)
	}
	if got := formatCookie(m); got != "demo:0000000000000003.shop:000000000000000a" {
		t.Fatalf("formatted %q", got)
	}
}

func FuzzBookmark(f *testing.F) {
	f.Add("shop:000000000000000a.demo:3", "5")
	f.Fuzz(func(t *testing.T, cookie, header string) {
		req := httptest.NewRequest("GET", "/shop/t.json", nil)
		req.Header.Set("Cookie", CookieName+"="+cookie)
		req.Header.Set(HeaderTXIDIn, header)
		_, _ = bookmark(req, "shop")
		_ = formatCookie(parseCookie(cookie))
	})
}

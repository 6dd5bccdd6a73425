package routing

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recMetrics records routing's events as strings.
type recMetrics struct {
	mu     sync.Mutex
	events []string
	waits  []time.Duration
}

func (m *recMetrics) add(e string)               { m.mu.Lock(); m.events = append(m.events, e); m.mu.Unlock() }
func (m *recMetrics) WriteForwarded(mode string) { m.add("forwarded:" + mode) }
func (m *recMetrics) ProxyError(reason string)   { m.add("proxy-error:" + reason) }
func (m *recMetrics) StaleRead(cause, outcome string) {
	m.add("stale:" + cause + ":" + outcome)
}
func (m *recMetrics) BookmarkWait(d time.Duration, outcome string) {
	m.mu.Lock()
	m.waits = append(m.waits, d)
	m.mu.Unlock()
	m.add("bookmark:" + outcome)
}

func (m *recMetrics) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.events
	m.events = nil
	return out
}

func TestRouter_Metrics(t *testing.T) {
	primary := httptest.NewServer(newRouter(&fakeNode{ready: true, primary: true, txid: 100, changed: make(chan struct{})}, Config{}))
	defer primary.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	replica := func(cfg Config, primaryURL string) (*fakeNode, *Router, *recMetrics) {
		n := newFakeNode()
		n.primaryURL, n.txid = primaryURL, 5
		rt := newRouter(n, cfg)
		m := &recMetrics{}
		rt.Metrics = m
		return n, rt, m
	}
	check := func(t *testing.T, m *recMetrics, want ...string) {
		t.Helper()
		if got := m.take(); !slices.Equal(got, want) {
			t.Fatalf("events %q, want %q", got, want)
		}
	}

	t.Run("Writes", func(t *testing.T) {
		for _, mode := range []string{WriteProxy, WriteRedirect, WriteFlyReplay} {
			_, rt, m := replica(Config{WriteMode: mode}, primary.URL)
			do(t, rt, "POST", "/shop/t/-/insert", "{}")
			check(t, m, "forwarded:"+mode)
		}
		n, rt, m := replica(Config{}, primary.URL)
		n.primary = true
		do(t, rt, "POST", "/shop/t/-/insert", "{}")
		check(t, m) // served here: nothing forwarded
	})
	t.Run("ProxyErrors", func(t *testing.T) {
		_, rt, m := replica(Config{PrimaryWait: 100 * time.Millisecond}, dead.URL)
		if w := do(t, rt, "POST", "/shop/t/-/insert", "{}"); w.Code != 503 {
			t.Fatalf("code %d", w.Code)
		}
		check(t, m, "forwarded:proxy", "proxy-error:unreachable")
		_, rt, m = replica(Config{MaxBody: 10}, primary.URL)
		do(t, rt, "POST", "/shop/t/-/insert", strings.Repeat("x", 1000))
		check(t, m, "forwarded:proxy", "proxy-error:too_large")
	})
	t.Run("BookmarkServed", func(t *testing.T) {
		n, rt, m := replica(Config{}, primary.URL)
		do(t, rt, "GET", "/shop/t.json?_txid=5", "")
		check(t, m) // already applied: no wait
		go func() {
			time.Sleep(20 * time.Millisecond)
			n.setTXID(9)
		}()
		do(t, rt, "GET", "/shop/t.json?_txid=9", "")
		check(t, m, "bookmark:served")
		if m.waits[0] < 15*time.Millisecond {
			t.Fatalf("waited %s", m.waits[0])
		}
	})
	t.Run("BookmarkFellBackToPrimary", func(t *testing.T) {
		_, rt, m := replica(Config{BookmarkWait: 20 * time.Millisecond}, primary.URL)
		w := do(t, rt, "GET", "/shop/t.json?_txid=9", "")
		if w.Header().Get(HeaderServedBy) != "primary" {
			t.Fatalf("not served by the primary: %d %s", w.Code, w.Body)
		}
		check(t, m, "stale:bookmark:primary", "bookmark:primary")
	})
	t.Run("BookmarkRefused", func(t *testing.T) {
		_, rt, m := replica(Config{BookmarkWait: 20 * time.Millisecond, StaleMode: StaleRefuse}, primary.URL)
		if w := do(t, rt, "GET", "/shop/t.json?_txid=9", ""); w.Code != 504 {
			t.Fatalf("code %d", w.Code)
		}
		check(t, m, "stale:bookmark:refused", "bookmark:refused")
	})
	t.Run("Lag", func(t *testing.T) {
		n, rt, m := replica(Config{StaleMode: StaleRefuse}, primary.URL)
		n.lag = time.Second
		do(t, rt, "GET", "/shop/t.json?_max_lag=100ms", "")
		check(t, m, "stale:lag:refused")
	})
}

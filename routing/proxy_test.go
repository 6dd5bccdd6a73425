package routing

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/tablecast/tablecast"
)

// TestProxy_Serve: the other node gets the path and query, this node's
// name and the client's https; the answer names the way it came; a node
// that cannot be reached is answered by failed alone.
func TestProxy_Serve(t *testing.T) {
	var got *http.Request
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Header().Set(tablecast.HeaderNode, "lhr-1")
		w.WriteHeader(http.StatusTeapot)
	}))
	defer other.Close()
	p := NewProxy("syd-1", nil)
	target, _ := url.Parse(other.URL)

	t.Run("Reached", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/-/admin/a%2Fb?x=1", nil)
		r.Header.Set("X-Forwarded-Proto", "https")
		w := httptest.NewRecorder()
		w.Header().Set(tablecast.HeaderNode, "syd-1")
		w.Header().Set(HeaderLag, "3")
		p.Serve(w, r, target, func(w http.ResponseWriter, r *http.Request, err error) { t.Errorf("failed: %v", err) })
		if w.Code != http.StatusTeapot {
			t.Fatalf("status %d, want %d", w.Code, http.StatusTeapot)
		}
		if got.URL.RawPath != "/-/admin/a%2Fb" || got.URL.RawQuery != "x=1" {
			t.Errorf("path %q query %q", got.URL.RawPath, got.URL.RawQuery)
		}
		if h := got.Header; h.Get(HeaderForwarded) != "syd-1" || h.Get("X-Forwarded-Proto") != "https" {
			t.Errorf("forwarded by %q, proto %q", h.Get(HeaderForwarded), h.Get("X-Forwarded-Proto"))
		}
		if h := w.Header(); h.Get(HeaderVia) != "syd-1" || h.Values(tablecast.HeaderNode)[0] != "lhr-1" || len(h.Values(tablecast.HeaderNode)) != 1 || h.Get(HeaderLag) != "" {
			t.Errorf("answer headers %v", h)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed, _ := url.Parse("http://" + ln.Addr().String())
		ln.Close()
		var failed error
		w := httptest.NewRecorder()
		p.Serve(w, httptest.NewRequest(http.MethodGet, "/-/admin", nil), closed, func(w http.ResponseWriter, r *http.Request, err error) {
			failed = err
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		if failed == nil || !isDialError(failed) || w.Code != http.StatusServiceUnavailable {
			t.Errorf("failed with %v, status %d: want a dial error answered by failed", failed, w.Code)
		}
	})
}

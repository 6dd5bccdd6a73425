package routing

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRouter_ForwardImport: an import is streamed to the primary as it
// arrives (not buffered, not bound by max-body), and refused at once over
// max-import-bytes.
func TestRouter_ForwardImport(t *testing.T) {
	firstChunk := make(chan struct{})
	var got int64
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1024)
		n, _ := io.ReadFull(r.Body, buf)
		if n == len(buf) {
			close(firstChunk)
		}
		rest, _ := io.Copy(io.Discard, r.Body)
		got = int64(n) + rest
		w.WriteHeader(http.StatusCreated)
	}))
	defer primary.Close()
	n := newFakeNode()
	n.primaryURL = primary.URL

	t.Run("Streamed", func(t *testing.T) {
		replica := httptest.NewServer(newRouter(n, Config{MaxBody: 1000}))
		defer replica.Close()
		pr, pw := io.Pipe()
		go func() {
			// The rest is sent only once the primary has the first KiB:
			// a forward that buffered the body would never get there.
			_, _ = pw.Write(make([]byte, 1024))
			select {
			case <-firstChunk:
				_, _ = pw.Write(make([]byte, 4096))
				_ = pw.Close()
			case <-time.After(10 * time.Second):
				_ = pw.CloseWithError(io.ErrUnexpectedEOF)
			}
		}()
		resp, err := http.Post(replica.URL+"/shop/-/import", "application/vnd.sqlite3", pr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || got != 5120 {
			t.Fatalf("status %d, the primary got %d bytes: want 201 and 5120 (streamed, past max-body)", resp.StatusCode, got)
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		got = -1
		w := do(t, newRouter(n, Config{MaxImport: 100}), "POST", "/shop/-/import", strings.Repeat("x", 200))
		if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "max-import-bytes") || got != -1 {
			t.Fatalf("status %d %s, primary got %d", w.Code, w.Body, got)
		}
	})
}

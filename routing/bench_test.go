package routing

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRouter_Read measures what the router adds to a public read on a
// replica (headers, bookmark and lag checks), apart from net/http and the
// reader: Reads here only sets the status.
func BenchmarkRouter_Read(b *testing.B) {
	n := newFakeNode()
	rt := newRouter(n, Config{})
	rt.Reads = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	req := httptest.NewRequest("GET", "/demo/items/1.json", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &codeWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			w.code = 0
			rt.ServeHTTP(w, req)
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
		}
	})
}

// codeWriter is a ResponseWriter that keeps only the status.
type codeWriter struct {
	h    http.Header
	code int
}

func (w *codeWriter) Header() http.Header { return w.h }
func (w *codeWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *codeWriter) Write(p []byte) (int, error) { return len(p), nil }

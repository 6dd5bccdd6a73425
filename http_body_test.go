package tablecast

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// tooLargeServer reads bodies up to 1 MiB as the write paths do and
// answers 413 through WriteError.
func tooLargeServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteError(w, r, nil, Errorf(ETOOLARGE, "Request body too large: the limit is %d bytes", tooBig.Limit))
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestWriteError_TooLargeBodyAnswered: a client that sends its whole body
// before it reads (as many do) gets the JSON 413, not a reset connection,
// for bodies a little and far over the limit.
func TestWriteError_TooLargeBodyAnswered(t *testing.T) {
	srv := tooLargeServer(t)
	for _, size := range []int{3_990_000, 50_000_000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			head := fmt.Sprintf("POST /db/t/-/insert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size)
			if _, err := io.WriteString(conn, head); err != nil {
				t.Fatal(err)
			}
			// All of it, before reading anything.
			if _, err := io.CopyN(conn, zeros{}, int64(size)); err != nil {
				t.Fatalf("sending the body: %v", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			defer resp.Body.Close()
			assertTooLarge(t, resp)
		})
	}
	t.Run("GoClient", func(t *testing.T) {
		resp, err := http.Post(srv.URL, "application/json", io.LimitReader(zeros{}, 50_000_000))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		assertTooLarge(t, resp)
	})
}

func assertTooLarge(t *testing.T, resp *http.Response) {
	t.Helper()
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge ||
		body["status"] != float64(413) || body["ok"] != false || !strings.Contains(fmt.Sprint(body["error"]), "1048576") {
		t.Fatalf("%d %q", resp.StatusCode, raw)
	}
	if !resp.Close {
		t.Errorf("413 without Connection: close")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestCheckQuery: a malformed escape in the query string is a JSON 400,
// well-formed queries pass; a malformed escape in the path never reaches a
// handler (net/http answers it, in plain text).
func TestCheckQuery(t *testing.T) {
	reached := 0
	h := CheckQuery(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++ }))
	for _, q := range []string{"_sync=%zz", "a=%", "x=1&_txid=%g0", "a=1;b=2"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/db/t.json?"+q, nil))
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 400 || body["status"] != float64(400) ||
			!strings.HasPrefix(fmt.Sprint(body["error"]), "Malformed query string") {
			t.Errorf("?%s: %d %q", q, w.Code, w.Body.Bytes())
		}
	}
	params := func(n int) string { return strings.TrimSuffix(strings.Repeat("_x=1&", n), "&") }
	// Past net/url's limit every parameter would be dropped without a word
	// (a write's _sync=1 among them).
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/db/t/-/insert?_sync=1&"+params(MaxQueryParams), nil))
	if w.Code != 400 || !strings.Contains(w.Body.String(), "Too many query parameters: at most 10000") {
		t.Errorf("%d parameters: %d %.200s", MaxQueryParams+1, w.Code, w.Body)
	}
	for _, q := range []string{"", "a=%20b&c=%C3%A9", "_size=5&x=", params(MaxQueryParams)} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/db/t.json?"+q, nil))
	}
	if reached != 4 {
		t.Errorf("well-formed queries reached the handler %d times, want 4", reached)
	}

	srv := httptest.NewServer(h)
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /db/%%zz.json HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !bytes.HasPrefix(raw, []byte("400 Bad Request")) {
		t.Errorf("bad path escape: %d %q (net/http's plain answer expected: if this changed, make it JSON)", resp.StatusCode, raw)
	}
}

// FuzzWellFormedQuery: the allocation-free check agrees with url.ParseQuery.
func FuzzWellFormedQuery(f *testing.F) {
	for _, q := range []string{"a=1&b=%20", "a=%", "a=%2", "a=%zz", "a;b", "%41=%42", "=&&=", "a=%e9%ff"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		_, err := url.ParseQuery(q)
		if got := wellFormedQuery(q); got != (err == nil) {
			t.Fatalf("wellFormedQuery(%q) = %v, url.ParseQuery: %v", q, got, err)
		}
	})
}

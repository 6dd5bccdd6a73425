package tablecast

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCallJSON: the body and token go out as JSON and a bearer token; a
// 2xx answer is decoded; an error answer is an error naming its status,
// and is decoded too; a 2xx answer that is not JSON is an error.
func TestCallJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/echo":
			if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Write(b)
		case "/fail":
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"ok":false,"error":"taken"}`)
		case "/text":
			io.WriteString(w, "not json")
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	var out struct {
		A     int    `json:"a"`
		Error string `json:"error"`
	}
	if err := CallJSON(ctx, srv.Client(), http.MethodPost, srv.URL+"/echo", "tok", map[string]int{"a": 7}, &out); err != nil || out.A != 7 {
		t.Fatalf("echo: %v, %+v", err, out)
	}
	err := CallJSON(ctx, srv.Client(), http.MethodGet, srv.URL+"/fail", "", nil, &out)
	if err == nil || !strings.Contains(err.Error(), "409") || out.Error != "taken" {
		t.Fatalf("fail: %v, %+v", err, out)
	}
	if err := CallJSON(ctx, srv.Client(), http.MethodGet, srv.URL+"/text", "", nil, &out); err == nil || !strings.Contains(err.Error(), "decode") {
		t.Fatalf("text: %v", err)
	}
	if err := CallJSON(ctx, srv.Client(), http.MethodGet, srv.URL+"/text", "", nil, nil); err != nil {
		t.Fatalf("text, answer dropped: %v", err)
	}
}

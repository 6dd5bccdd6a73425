package tablecast

import (
	"net/http"
	"testing"
)

// TestHeaderValue: HeaderValue finds what Header.Get finds for canonical
// keys, and the header names passed to it are canonical.
func TestHeaderValue(t *testing.T) {
	h := http.Header{}
	h.Add("tablecast-txid", "00000000000000a1")
	h.Add("If-None-Match", `"a"`)
	h.Add("If-None-Match", `"b"`)
	for _, key := range []string{HeaderTXID, HeaderRegion, HeaderNode, "If-None-Match", "Tablecast-Forwarded-By"} {
		if c := http.CanonicalHeaderKey(key); c != key {
			t.Errorf("%q is not canonical (%q)", key, c)
		}
		if got, want := HeaderValue(h, key), h.Get(key); got != want {
			t.Errorf("HeaderValue(%q) = %q, Header.Get %q", key, got, want)
		}
	}
	if HeaderValue(h, HeaderTXID) != "00000000000000a1" || HeaderValue(h, "If-None-Match") != `"a"` {
		t.Errorf("values: %v", h)
	}
}

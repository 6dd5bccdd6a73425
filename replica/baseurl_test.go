package replica

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// serveAs answers path with the request's Host, remote address, TLS and
// headers set as given, and returns next_url and the Link header.
func serveAs(t *testing.T, f *fixture, path, host, remote string, tlsOn bool, hdr ...string) (string, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Host, req.RemoteAddr = host, remote
	if tlsOn {
		req.TLS = &tls.ConnectionState{}
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.reader.ServeHTTP(w, req)
	var body struct {
		NextURL string `json:"next_url"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 200 {
		t.Fatalf("%s: %d %s", path, w.Code, w.Body)
	}
	return body.NextURL, w.Header().Get("Link")
}

// TestReader_AbsoluteNextURL: next_url and the Link header are absolute,
// as Datasette's (dclient follows them as they are), built from the
// request; X-Forwarded-* only from a trusted proxy; a base URL wins; and
// the cache never hands one host's URLs to another host.
func TestReader_AbsoluteNextURL(t *testing.T) {
	f := newFixture(t)
	seedDemo(f)
	const path = "/demo/cities.json?_size=1"
	const rest = "/demo/cities.json?_next=WzFd&_size=1"
	fwd := []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "cdn.example"}
	for _, tc := range []struct {
		name    string
		host    string
		remote  string
		tls     bool
		hdr     []string
		base    string
		trusted []string
		want    string
	}{
		{"Host", "a.example", "192.0.2.1:1", false, nil, "", nil, "http://a.example" + rest},
		{"HostAfterCache", "b.example:8080", "192.0.2.1:1", false, nil, "", nil, "http://b.example:8080" + rest},
		{"TLS", "a.example", "192.0.2.1:1", true, nil, "", nil, "https://a.example" + rest},
		{"ForwardedUntrusted", "a.example", "192.0.2.1:1", false, fwd, "", nil, "http://a.example" + rest},
		{"ForwardedOtherProxy", "a.example", "192.0.2.1:1", false, fwd, "", []string{"10.0.0.0/8"}, "http://a.example" + rest},
		{"ForwardedTrusted", "a.example", "10.1.2.3:1", false, fwd, "", []string{"10.0.0.0/8"}, "https://cdn.example" + rest},
		{"ForwardedTrustedV6", "a.example", "[::ffff:10.1.2.3]:1", false, fwd, "", []string{"10.0.0.0/8"}, "https://cdn.example" + rest},
		{"ForwardedChain", "a.example", "10.1.2.3:1", false, []string{"X-Forwarded-Proto", "https, http", "X-Forwarded-Host", "cdn.example, inner"}, "", []string{"10.1.2.3"}, "https://cdn.example" + rest},
		{"ForwardedBadHost", "a.example", "10.1.2.3:1", false, []string{"X-Forwarded-Host", "evil.example/x?<"}, "", []string{"10.0.0.0/8"}, "http://a.example" + rest},
		{"ForwardedBadProto", "a.example", "10.1.2.3:1", false, []string{"X-Forwarded-Proto", "javascript"}, "", []string{"10.0.0.0/8"}, "http://a.example" + rest},
		{"BaseWins", "a.example", "10.1.2.3:1", true, fwd, "https://data.example", []string{"10.0.0.0/8"}, "https://data.example" + rest},
		{"NoHost", "", "192.0.2.1:1", false, nil, "", nil, rest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefixes, err := ParseTrustedProxies(tc.trusted)
			if err != nil {
				t.Fatal(err)
			}
			f.reader.BaseURL, f.reader.TrustedProxies = tc.base, prefixes
			// Twice: the second answer comes from the cache.
			for range 2 {
				next, link := serveAs(t, f, path, tc.host, tc.remote, tc.tls, tc.hdr...)
				if next != tc.want || link != "<"+tc.want+`>; rel="next"` {
					t.Fatalf("next_url %q, Link %q; want %q", next, link, tc.want)
				}
			}
		})
	}
	f.reader.BaseURL, f.reader.TrustedProxies = "", nil
	t.Run("TrustForwarded", func(t *testing.T) {
		f.reader.TrustForwarded = func(*http.Request) bool { return true }
		defer func() { f.reader.TrustForwarded = nil }()
		if next, _ := serveAs(t, f, path, "node-api:1", "192.0.2.1:1", false, fwd...); next != "https://cdn.example"+rest {
			t.Fatalf("next_url %q", next)
		}
	})
	t.Run("OtherAnswersRelative", func(t *testing.T) {
		// Pages keep relative links; the database list its relative paths.
		_, _, raw := f.MustFetch("/demo/cities?_size=1")
		if !strings.Contains(raw, `href="/demo/cities?_next=`) {
			t.Fatalf("HTML next link: %s", raw)
		}
	})
}

func TestCheckBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://data.example":       "https://data.example",
		"https://data.example/":      "https://data.example",
		"http://127.0.0.1:8080":      "http://127.0.0.1:8080",
		"https://[2001:db8::1]:8443": "https://[2001:db8::1]:8443",
	} {
		if got, err := CheckBaseURL(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"data.example":              "must start with http:// or https://",
		"/relative":                 "must start with http:// or https://",
		"ftp://data.example":        "must start with http:// or https://",
		"https://":                  "must name a host",
		"https://u:p@data.example":  "must name a host",
		"https://data.example/x":    "must have no path",
		"https://data.example/?a=1": "must have no query",
		"https://data.example?":     "must have no query",
		"https://data.example/#x":   "must have no query or fragment",
		"https://da ta.example":     "base URL",
	} {
		if _, err := CheckBaseURL(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", in, err, want)
		}
	}
	if _, err := ParseTrustedProxies([]string{"10.0.0.0/8", "fd00::/8", "192.0.2.7"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTrustedProxies([]string{"10.0.0.0/33"}); err == nil || !strings.Contains(err.Error(), `trusted proxy "10.0.0.0/33"`) {
		t.Fatalf("bad CIDR: %v", err)
	}
	p, _ := ParseTrustedProxies([]string{"10.1.2.3/8"})
	if p[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Fatalf("not masked: %v", p)
	}
}

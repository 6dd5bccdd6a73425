package node

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestNode_BaseURLOptions: tablecast.base-url and trusted-proxies reach
// the reader, and a read a peer forwarded over mutual TLS has its
// X-Forwarded-* believed (a public client's are not).
func TestNode_BaseURLOptions(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	n := New(Options{Name: "syd-1", FUSEDir: t.TempDir(), BaseURL: "https://data.example", TrustedProxies: proxies})
	if err := n.openPaths(); err != nil {
		t.Fatal(err)
	}
	if n.reader.BaseURL != "https://data.example" || len(n.reader.TrustedProxies) != 1 || n.reader.TrustedProxies[0] != proxies[0] {
		t.Fatalf("reader: %q %v", n.reader.BaseURL, n.reader.TrustedProxies)
	}
	public := httptest.NewRequest("GET", "/db/t.json", nil)
	public.TLS = &tls.ConnectionState{} // TLS, but no client certificate
	if n.reader.TrustForwarded == nil || n.reader.TrustForwarded(public) {
		t.Fatal("a public request's forwarded headers are trusted")
	}
	peer := httptest.NewRequest("GET", "/db/t.json", nil)
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "lhr-1"}}
	peer.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}, VerifiedChains: [][]*x509.Certificate{{cert}}}
	if !n.reader.TrustForwarded(peer) {
		t.Fatal("a peer's forwarded read is not trusted")
	}
}

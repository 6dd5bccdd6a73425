package replica

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Absolute URLs. The URLs a JSON or CSV answer gives clients to follow
// (next_url and the Link header of the next page) are absolute, as
// Datasette's are: clients such as dclient request them as they are. They
// are built from the request: its scheme (TLS or not) and Host, or, from a
// trusted proxy, X-Forwarded-Proto and X-Forwarded-Host; a configured
// BaseURL wins over both. The base is part of the cache key of the
// answers that hold one, so an answer cached for one host never reaches
// a request for another.

// CheckBaseURL validates a base URL (tablecast.base-url): absolute http or
// https, a host, no path but "/", no query or fragment. It returns the
// base without a trailing slash.
func CheckBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("base URL %q: %w", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("base URL %q: must start with http:// or https://", s)
	case u.Host == "" || u.User != nil || !validHost(u.Host):
		return "", fmt.Errorf("base URL %q: must name a host (and no user)", s)
	case u.Path != "" && u.Path != "/":
		return "", fmt.Errorf("base URL %q: must have no path (tablecast serves from the root)", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("base URL %q: must have no query or fragment", s)
	}
	return u.Scheme + "://" + u.Host, nil
}

// ParseTrustedProxies parses CIDRs (or single addresses) of the proxies
// whose X-Forwarded-Proto and X-Forwarded-Host are believed.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return nil, fmt.Errorf("trusted proxy %q: not a CIDR (10.0.0.0/8) or an address: %w", s, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// setBase sets the route's base (scheme and host) when its answer holds
// absolute URLs: a table's JSON (next_url, Link) and CSV (blob URLs).
func (r *Reader) setBase(rt *route, req *http.Request) {
	if rt.kind != routeTable || rt.format == formatHTML {
		return
	}
	if r.BaseURL != "" {
		rt.base = r.BaseURL
		return
	}
	scheme, host := "http", req.Host
	if req.TLS != nil {
		scheme = "https"
	}
	if r.trusted(req) {
		if v := firstValue(req.Header["X-Forwarded-Proto"]); v == "http" || v == "https" {
			scheme = v
		}
		if v := firstValue(req.Header["X-Forwarded-Host"]); v != "" && validHost(v) {
			host = v
		}
	}
	if host == "" || !validHost(host) {
		return // no host to name: the URLs stay relative
	}
	rt.scheme, rt.base = scheme, host
}

// trusted reports whether req comes from a trusted proxy.
func (r *Reader) trusted(req *http.Request) bool {
	if r.TrustForwarded != nil && r.TrustForwarded(req) {
		return true
	}
	if len(r.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(req.RemoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range r.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// firstValue is the first comma-separated value of a header (the client's
// end of a proxy chain), trimmed.
func firstValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	v, _, _ := strings.Cut(vs[0], ",")
	return strings.TrimSpace(v)
}

// validHost accepts a host[:port] made of letters, digits, '.', '-', ':'
// and IPv6 brackets: nothing that could end a URL or a Link header.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// absolute makes a path absolute with the route's base ("" keeps it
// relative: no host was known).
func (rt *route) absolute(path string) string {
	switch {
	case rt.base == "":
		return path
	case rt.scheme == "":
		return rt.base + path
	}
	return rt.scheme + "://" + rt.base + path
}

// appendBase appends the route's base to a cache key.
func (rt *route) appendBase(dst []byte) []byte {
	if rt.base == "" {
		return dst
	}
	dst = append(append(dst, 0), rt.scheme...)
	return append(append(dst, 0), rt.base...)
}

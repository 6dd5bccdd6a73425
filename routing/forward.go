package routing

import (
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"syscall"
	"time"

	"github.com/tablecast/tablecast"
)

// forwarder sends requests on to the primary as a reverse proxy.
type forwarder struct {
	rt    *Router
	proxy *httputil.ReverseProxy
}

type primaryKey struct{}

func newForwarder(rt *Router) *forwarder {
	f := &forwarder{rt: rt}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(primaryKey{}).(*url.URL)
			pr.SetURL(target)
			pr.Out.URL.Path, pr.Out.URL.RawPath = pr.In.URL.Path, pr.In.URL.RawPath
			pr.SetXForwarded()
			pr.Out.Header.Set(HeaderForwarded, rt.Name)
		},
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			// A primary that accepts but never answers (a hung process) must
			// not hold the client forever.
			ResponseHeaderTimeout: 30 * time.Second,
		},
		ErrorHandler: f.failed,
	}
	return f
}

// forward proxies r to primary, limiting the body it reads.
func (f *forwarder) forward(w http.ResponseWriter, r *http.Request, primary string) {
	u, err := url.Parse(primary)
	if err != nil {
		f.rt.fail(w, r, errNoPrimary)
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, f.rt.Config.MaxBody)
	}
	// The answer names the node that served it; we are only the way there.
	h := w.Header()
	h.Del(tablecast.HeaderNode)
	h.Del(tablecast.HeaderRegion)
	h.Del(HeaderLag)
	h.Set(HeaderServedBy, "primary")
	h.Set(HeaderVia, f.rt.Name)
	f.proxy.ServeHTTP(w, r.WithContext(contextWith(r, u)))
}

// failed answers a forward that did not complete. A connection that was
// never made wrote nothing; one lost midway may have: the client is told.
func (f *forwarder) failed(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		f.rt.fail(w, r, tablecast.Errorf(tablecast.ETOOLARGE, "Request body is larger than %d bytes", tooBig.Limit))
	case isDialError(err):
		w.Header().Set("Retry-After", "1")
		f.rt.fail(w, r, tablecast.Errorf(tablecast.EUNAVAILABLE, "The primary is unreachable: nothing was written, retry shortly"))
	default:
		f.rt.Logger.Warn("forward to primary failed", "path", r.URL.Path, "err", err)
		tablecast.WriteJSON(w, http.StatusBadGateway, map[string]any{"ok": false, "status": http.StatusBadGateway,
			"error": "The connection to the primary was lost: the write may or may not have been applied"})
	}
}

func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func sortStrings(s []string) { sort.Strings(s) }

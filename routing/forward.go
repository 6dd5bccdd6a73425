package routing

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tablecast/tablecast"
)

// Proxy is a node's one reverse proxy to another node's node API: the
// Router's forwarded writes and reads to the primary, and the node's admin
// pages (to the primary) and cluster changes (to the raft leader).
type Proxy struct {
	// Name is this node's: the request carries it as HeaderForwarded (the
	// node reached never sends it on again), the answer as HeaderVia.
	Name string
	// Transport carries requests to the other node: it must present this
	// node's certificate and verify the other's (mutual TLS). Nil is a
	// plain HTTP transport (insecure-plaintext).
	Transport http.RoundTripper

	rp    *httputil.ReverseProxy
	plain *http.Transport // without Transport
}

// NewProxy returns a Proxy for the node named name.
func NewProxy(name string, transport http.RoundTripper) *Proxy {
	p := &Proxy{Name: name, Transport: transport}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(proxyKey{}).(*proxyTarget)
			proto := pr.In.Header.Get("X-Forwarded-Proto")
			pr.SetURL(t.url)
			pr.Out.URL.Path, pr.Out.URL.RawPath = pr.In.URL.Path, pr.In.URL.RawPath
			pr.SetXForwarded()
			if proto == "https" || pr.In.TLS != nil {
				// TLS ended before us: the other node must still mark
				// cookies Secure.
				pr.Out.Header.Set("X-Forwarded-Proto", "https")
			}
			pr.Out.Header.Set(HeaderForwarded, p.Name)
		},
		Transport: p,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			r.Context().Value(proxyKey{}).(*proxyTarget).failed(w, r, err)
		},
	}
	p.plain = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		// A node that accepts but never answers (a hung process) must
		// not hold the client forever.
		ResponseHeaderTimeout: 30 * time.Second,
	}
	return p
}

type proxyKey struct{}

// proxyTarget is where one request goes, and who answers its failure.
type proxyTarget struct {
	url    *url.URL
	failed func(http.ResponseWriter, *http.Request, error)
}

// RoundTrip sends a proxied request with Transport, or in plain HTTP when
// there is none.
func (p *Proxy) RoundTrip(r *http.Request) (*http.Response, error) {
	if p.Transport != nil {
		return p.Transport.RoundTrip(r)
	}
	return p.plain.RoundTrip(r)
}

// Serve proxies r to the node API at target, its path and query kept.
// failed answers a request the proxy could not complete: nothing was
// written to w when the connection was never made, maybe part of the
// answer when it was lost midway.
func (p *Proxy) Serve(w http.ResponseWriter, r *http.Request, target *url.URL, failed func(http.ResponseWriter, *http.Request, error)) {
	// The answer names the node that served it; we are only the way there.
	h := w.Header()
	h.Del(tablecast.HeaderNode)
	h.Del(tablecast.HeaderRegion)
	h.Del(HeaderLag)
	h.Set(HeaderVia, p.Name)
	ctx := context.WithValue(r.Context(), proxyKey{}, &proxyTarget{url: target, failed: failed})
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

// forwarder sends requests on to the primary through the Router's Proxy.
type forwarder struct {
	rt    *Router
	once  sync.Once
	proxy *Proxy
	imp   importProxy // forward_import.go
}

func newForwarder(rt *Router) *forwarder {
	return &forwarder{rt: rt}
}

// get is the Router's Proxy, made at the first forward: Name and
// Transport are set after New.
func (f *forwarder) get() *Proxy {
	f.once.Do(func() { f.proxy = NewProxy(f.rt.Name, f.rt.Transport) })
	return f.proxy
}

// forward proxies r to primary, limiting the body it reads.
func (f *forwarder) forward(w http.ResponseWriter, r *http.Request, primary string) {
	// The body is read first (within the limit) so that a forward refused
	// at connect time, which wrote nothing, can be tried again on the next
	// primary: a failover then looks like a slow write, not an error.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, f.rt.Config.MaxBody))
	if err != nil {
		f.failed(w, r, err)
		return
	}
	h := w.Header()
	h.Del("X-Content-Type-Options") // the primary's answer carries its own
	h.Set(HeaderServedBy, "primary")
	deadline := time.Now().Add(f.rt.Config.PrimaryWait)
	for {
		var dialErr error
		u, err := url.Parse(primary)
		if err != nil {
			f.rt.fail(w, r, errNoPrimary)
			return
		}
		ctx, cancel := context.WithCancelCause(context.WithValue(r.Context(), dialErrKey{}, &dialErr))
		watched := f.watchPrimary(ctx, cancel, primary)
		out := r.Clone(ctx)
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		f.get().Serve(w, out, u, f.failed)
		cancel(nil)
		<-watched
		if dialErr == nil {
			return
		}
		if primary = f.nextPrimary(r.Context(), primary, deadline); primary == "" {
			f.rt.metrics().ProxyError(ProxyUnreachable)
			w.Header().Set("Retry-After", "1")
			f.rt.fail(w, r, tablecast.Errorf(tablecast.EUNAVAILABLE, "The primary is unreachable: nothing was written, retry shortly"))
			return
		}
	}
}

type dialErrKey struct{}

// errPrimaryMoved ends a forward whose primary the cluster replaced while
// the request was in flight: a primary cut off silently (packets dropped,
// no reset) would otherwise hold the client until the transport's 30 s
// response timeout, long after raft named another primary.
var errPrimaryMoved = errors.New("the cluster named another primary while the request was in flight")

// primaryPoll is how often an in-flight forward checks who is primary.
const primaryPoll = 100 * time.Millisecond

// watchPrimary cancels ctx with errPrimaryMoved once the node knows a
// primary other than primary; the returned channel closes when it stops
// watching (ctx done).
func (f *forwarder) watchPrimary(ctx context.Context, cancel context.CancelCauseFunc, primary string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(primaryPoll)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if u := strings.TrimSuffix(f.rt.Node.PrimaryNodeURL(), "/"); u != "" && u != primary {
				cancel(errPrimaryMoved)
				return
			}
		}
	}()
	return done
}

// nextPrimary waits, until deadline, for the cluster to name a primary
// other than the one that refused the connection; "" when none came.
func (f *forwarder) nextPrimary(ctx context.Context, failed string, deadline time.Time) string {
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(50 * time.Millisecond):
		}
		if u := strings.TrimSuffix(f.rt.Node.PrimaryNodeURL(), "/"); u != "" && u != failed {
			return u
		}
	}
	return ""
}

// failed answers a forward that did not complete. A connection that was
// never made wrote nothing; one lost midway may have: the client is told.
func (f *forwarder) failed(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		f.rt.metrics().ProxyError(ProxyTooLarge)
		f.rt.fail(w, r, tablecast.Errorf(tablecast.ETOOLARGE, "Request body is larger than %d bytes", tooBig.Limit))
	case isDialError(err) && recordDialError(r, err):
		if isHandshakeError(err) {
			f.rt.Logger.Warn("forward to primary refused: TLS handshake failed, nothing was sent", "err", err)
		}
		// forward tries again on the next primary: nothing was written.
	case isDialError(err):
		f.rt.metrics().ProxyError(ProxyUnreachable)
		if isHandshakeError(err) {
			f.rt.Logger.Warn("forward to primary refused: TLS handshake failed, nothing was sent", "err", err)
		}
		w.Header().Set("Retry-After", "1")
		f.rt.fail(w, r, tablecast.Errorf(tablecast.EUNAVAILABLE, "The primary is unreachable: nothing was written, retry shortly"))
	case errors.Is(context.Cause(r.Context()), errPrimaryMoved):
		f.rt.metrics().ProxyError(ProxyLost)
		f.rt.Logger.Warn("forward to primary abandoned: the cluster named another primary", "path", r.URL.Path, "err", err)
		f.rt.fail(w, r, tablecast.Errorf(tablecast.EUNKNOWN, "The primary changed while the request was in flight: the write may or may not have been applied; read before retrying"))
	default:
		f.rt.metrics().ProxyError(ProxyLost)
		f.rt.Logger.Warn("forward to primary failed", "path", r.URL.Path, "err", err)
		f.rt.fail(w, r, tablecast.Errorf(tablecast.EUNKNOWN, "The connection to the primary was lost: the write may or may not have been applied"))
	}
}

// recordDialError hands a connect-time failure back to forward.
func recordDialError(r *http.Request, err error) bool {
	p, ok := r.Context().Value(dialErrKey{}).(*error)
	if ok {
		*p = err
	}
	return ok
}

// isDialError reports whether err happened before any byte of the request
// was sent: the connection was refused, or the TLS handshake failed (the
// peer did not prove it is a node of the cluster, or refused us).
func isDialError(err error) bool {
	if isHandshakeError(err) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// isHandshakeError reports whether err is a failed TLS handshake with the
// primary: its certificate did not verify, or it refused ours.
func isHandshakeError(err error) bool {
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	var header tls.RecordHeaderError
	return errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &header) ||
		strings.Contains(err.Error(), "tls: ") && strings.Contains(err.Error(), "handshake")
}

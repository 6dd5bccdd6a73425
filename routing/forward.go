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
	"syscall"
	"time"

	"github.com/tablecast/tablecast"
)

// forwarder sends requests on to the primary as a reverse proxy.
type forwarder struct {
	rt    *Router
	proxy *httputil.ReverseProxy
	plain *http.Transport // without Router.Transport
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
		Transport:    f,
		ErrorHandler: f.failed,
	}
	f.plain = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		// A primary that accepts but never answers (a hung process) must
		// not hold the client forever.
		ResponseHeaderTimeout: 30 * time.Second,
	}
	return f
}

// RoundTrip sends a forwarded request with the Router's Transport (mutual
// TLS to the primary's node API), or in plain HTTP when it has none.
func (f *forwarder) RoundTrip(r *http.Request) (*http.Response, error) {
	if t := f.rt.Transport; t != nil {
		return t.RoundTrip(r)
	}
	return f.plain.RoundTrip(r)
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
	// The answer names the node that served it; we are only the way there.
	h := w.Header()
	h.Del(tablecast.HeaderNode)
	h.Del(tablecast.HeaderRegion)
	h.Del(HeaderLag)
	h.Del("X-Content-Type-Options") // the primary's answer carries its own
	h.Set(HeaderServedBy, "primary")
	h.Set(HeaderVia, f.rt.Name)
	deadline := time.Now().Add(f.rt.Config.PrimaryWait)
	for {
		var dialErr error
		u, err := url.Parse(primary)
		if err != nil {
			f.rt.fail(w, r, errNoPrimary)
			return
		}
		ctx, cancel := context.WithCancelCause(context.WithValue(contextWith(r, u), dialErrKey{}, &dialErr))
		watched := f.watchPrimary(ctx, cancel, primary)
		out := r.Clone(ctx)
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		f.proxy.ServeHTTP(w, out)
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
		tablecast.WriteJSON(w, http.StatusBadGateway, map[string]any{"ok": false, "status": http.StatusBadGateway,
			"error": "The primary changed while the request was in flight: the write may or may not have been applied; read before retrying"})
	default:
		f.rt.metrics().ProxyError(ProxyLost)
		f.rt.Logger.Warn("forward to primary failed", "path", r.URL.Path, "err", err)
		tablecast.WriteJSON(w, http.StatusBadGateway, map[string]any{"ok": false, "status": http.StatusBadGateway,
			"error": "The connection to the primary was lost: the write may or may not have been applied"})
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

// contextWith carries the primary a request is forwarded to, for Rewrite.
func contextWith(r *http.Request, primary *url.URL) context.Context {
	return context.WithValue(r.Context(), primaryKey{}, primary)
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

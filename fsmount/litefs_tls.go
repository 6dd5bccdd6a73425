package fsmount

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unsafe"

	lfshttp "github.com/superfly/litefs/http"
)

// replicationPaths are the only LiteFS HTTP routes nodes use between them:
// a replica's stream from the primary. tablecast never writes on a replica
// (writes are forwarded to the primary over the node API), so LiteFS's
// halt lock and remote commit (/halt, /tx) are never called, and promotion
// and handoff go through raft (/promote, /handoff). Everything else LiteFS
// serves (/export, /import, /info, /events, /metrics, /debug/…) is refused.
var replicationPaths = map[string]string{"/stream": http.MethodPost}

// filterReplication answers 404 to every request but the replication
// stream.
func filterReplication(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m, ok := replicationPaths[r.URL.Path]; !ok || m != r.Method {
			http.NotFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// lockDownServer changes a listening LiteFS server so that it serves only
// the replication stream and, with cfg, only over mutual TLS. LiteFS v0.5.14
// keeps its listener and http.Server unexported: they are reached by
// reflection, and any change of their names or types is an error (see
// TestLockDownServer), never a silent plaintext server.
func lockDownServer(s *lfshttp.Server, cfg *tls.Config) error {
	v := reflect.ValueOf(s).Elem()
	lnField := v.FieldByName("ln")
	srvField := v.FieldByName("httpServer")
	if !lnField.IsValid() || lnField.Type() != reflect.TypeFor[net.Listener]() {
		return fmt.Errorf("litefs http.Server has no field ln net.Listener: cannot secure it (LiteFS version changed?)")
	}
	if !srvField.IsValid() || srvField.Type() != reflect.TypeFor[*http.Server]() {
		return fmt.Errorf("litefs http.Server has no field httpServer *http.Server: cannot secure it (LiteFS version changed?)")
	}
	ln := (*net.Listener)(unsafe.Pointer(lnField.UnsafeAddr()))
	srv := *(**http.Server)(unsafe.Pointer(srvField.UnsafeAddr()))
	if *ln == nil || srv == nil || srv.Handler == nil {
		return fmt.Errorf("litefs http server: not listening yet")
	}
	// LiteFS's handler is h2c.NewHandler(its routes): the filter goes on
	// the routes, taken out of h2c, or h2c's own HTTP/2 connections would
	// pass by.
	h := reflect.ValueOf(srv.Handler)
	if h.Kind() != reflect.Pointer || h.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("litefs http handler is a %s, not h2c's: cannot filter it (LiteFS version changed?)", h.Type())
	}
	inner := h.Elem().FieldByName("Handler")
	if !inner.IsValid() || inner.Type() != reflect.TypeFor[http.Handler]() || inner.IsNil() {
		return fmt.Errorf("litefs http handler %s has no Handler field: cannot filter it (LiteFS version changed?)", h.Type())
	}
	routes := filterReplication(inner.Interface().(http.Handler))
	srv.ReadHeaderTimeout = 10 * time.Second
	srv.Handler = routes
	if cfg == nil {
		// HTTP/2 in clear text with prior knowledge, as LiteFS's own
		// client speaks it (its h2c handler is replaced), and HTTP/1.
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		srv.Protocols = &p
		return nil
	}
	// Over TLS, HTTP/2 is agreed by ALPN (cfg offers h2) and net/http
	// serves it.
	srv.TLSConfig = cfg
	*ln = tls.NewListener(*ln, cfg)
	return nil
}

// Health checks of a replica's stream connection (tlsClient).
const (
	streamIdle = 2 * time.Second
	streamPing = time.Second
	// streamDial bounds a connect and TLS handshake (two round trips: 0.6 s
	// at 150 ms one way). A connect started while the primary is cut off
	// waits on SYN retransmissions (1 s, then 2 s apart): a shorter bound
	// tries again sooner once the path is back.
	streamDial = 2 * time.Second
)

// tlsClient is a LiteFS client that reaches peers over mutual TLS with
// HTTP/2 only (LiteFS's own client speaks HTTP/2 in clear text).
func tlsClient(cfg *tls.Config) *lfshttp.Client {
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	var h2 http.Protocols
	h2.SetHTTP2(true)
	return &lfshttp.Client{HTTPClient: &http.Client{Transport: &http.Transport{
		Protocols:       &h2,
		TLSClientConfig: cfg,
		// The primary sends a frame at least every second (LiteFS's
		// heartbeat). A stream that goes silent for streamIdle is pinged and,
		// without an answer in streamPing, closed: LiteFS then reconnects
		// every ReconnectDelay, so a replica cut off silently (packets
		// dropped, no reset) is streaming again as soon as a partition
		// heals, instead of at TCP's next backed-off retransmission.
		HTTP2: &http.HTTP2Config{SendPingTimeout: streamIdle, PingTimeout: streamPing},
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: streamDial}, Config: cfg}
			return d.DialContext(ctx, network, addr)
		},
	}}}
}

// httpsURL turns LiteFS's http:// URL into https://.
func httpsURL(u string) string { return "https://" + strings.TrimPrefix(u, "http://") }

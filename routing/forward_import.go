package routing

import (
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tablecast/tablecast"
)

// importHeaderTimeout bounds the wait for the primary's answer to an
// import once the whole file is sent: it checks the file (integrity_check
// reads all of it), brings it into LiteFS and waits for the replicas.
const importHeaderTimeout = 10 * time.Minute

// importProxy is the Proxy of imports: the Router's transport with a
// longer wait for the answer.
type importProxy struct {
	once  sync.Once
	proxy *Proxy
}

func (f *forwarder) importProxy() *Proxy {
	f.imp.once.Do(func() {
		var transport http.RoundTripper = f.rt.Transport
		if t, ok := f.rt.Transport.(*http.Transport); ok && t != nil {
			c := t.Clone()
			c.ResponseHeaderTimeout = importHeaderTimeout
			transport = c
		}
		f.imp.proxy = NewProxy(f.rt.Name, transport)
		if f.rt.Transport == nil {
			f.imp.proxy.plain.ResponseHeaderTimeout = importHeaderTimeout
		}
	})
	return f.imp.proxy
}

// forwardImport proxies an import to primary, streaming the body (up to
// MaxImport bytes) as it arrives: a file of gigabytes is never held in
// memory. Unlike forward, it cannot try another primary (the body is
// gone once sent): a primary that refuses the connection gets a 503.
func (f *forwarder) forwardImport(w http.ResponseWriter, r *http.Request, primary string) {
	limit := f.rt.Config.MaxImport
	if r.ContentLength > limit {
		f.rt.metrics().ProxyError(ProxyTooLarge)
		f.rt.fail(w, r, tablecast.Errorf(tablecast.ETOOLARGE, "The file is larger than tablecast.max-import-bytes (%s): nothing was imported", tablecast.FormatBytes(uint64(limit))))
		return
	}
	u, err := url.Parse(primary)
	if err != nil {
		f.rt.fail(w, r, errNoPrimary)
		return
	}
	// The server's read timeout is made for small write bodies.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	h := w.Header()
	h.Del("X-Content-Type-Options")
	h.Set(HeaderServedBy, "primary")
	out := r.Clone(r.Context())
	out.Body = http.MaxBytesReader(w, r.Body, limit)
	f.importProxy().Serve(w, out, u, f.failed)
}

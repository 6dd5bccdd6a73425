package replica

import (
	"context"
	"net/http"

	"github.com/tablecast/tablecast"
)

// TokenChecker authenticates the bearer token of a read (primary.Tokens:
// config tokens, and on every node its copy of _tablecast.db).
type TokenChecker interface {
	// ReadsPrivate reports whether the request's bearer token may read
	// private tables. A missing, unknown, expired or revoked token is an
	// error (EUNAUTHORIZED); a valid token without the read scope is
	// false, nil.
	ReadsPrivate(req *http.Request) (bool, error)
}

// Values of the headers every answer to a request with a bearer token
// carries: it depends on the token, and no cache may keep it.
var (
	privateCacheControl = []string{"private, no-store"}
	varyAuthorization   = []string{"Authorization"}
)

// authorize checks the bearer token of a read (the caller saw an
// Authorization header). A bad token gets 401 here (stop). Otherwise the
// answer goes out through a writer that marks it private whatever it is,
// and, when the token may read private tables, with a context that makes
// every read of this request see private tables too (private), public SQL
// included: it then runs over the private view, confined as public SQL is
// but with its own shadow, verdicts and root pages (gate.Shadows).
// A valid token without read reads as anonymous.
func (r *Reader) authorize(w http.ResponseWriter, req *http.Request, rt route) (http.ResponseWriter, *http.Request, bool, bool) {
	pw := &privateWriter{ResponseWriter: w}
	ok, err := r.Tokens.ReadsPrivate(req)
	if err != nil {
		if tablecast.ErrorCode(err) == tablecast.EUNAUTHORIZED {
			pw.Header().Set("WWW-Authenticate", "Bearer")
		}
		writeEntry(pw, req, errorEntry(r.logged(req, err), 0))
		return pw, req, false, true
	}
	if !ok {
		return pw, req, false, false
	}
	return pw, req.WithContext(context.WithValue(req.Context(), privateKey{}, true)), true, false
}

// privateKey marks the context of a read that may see private tables.
type privateKey struct{}

// readsPrivate reports whether ctx is a read that may see private tables.
func readsPrivate(ctx context.Context) bool {
	v, _ := ctx.Value(privateKey{}).(bool)
	return v
}

// privateRead runs fn with the private view of the pinned snapshot: every
// table and view of the database, read in the same transaction.
func privateRead(ctx context.Context, fn func(*readTx) error) func(*readTx) error {
	return func(rd *readTx) error {
		p, err := rd.s.PrivateView(ctx, rd.tx)
		if err != nil {
			return err
		}
		return fn(&readTx{tx: rd.tx, conn: rd.conn, s: p, d: rd.d})
	}
}

// servePrivate answers a route for a token that may read private tables:
// read at a pinned snapshot like any read (SQL on the SQL pool), never
// looked up in nor put into the response cache (so no ETag), labelled
// with its TXID. The private writer marks it private.
func (r *Reader) servePrivate(w http.ResponseWriter, req *http.Request, d *database, rt route) {
	var e *cacheEntry
	fn := func(rd *readTx) (err error) {
		e, err = r.answer(req.Context(), rd, rt)
		return err
	}
	s, err := r.readRoute(req.Context(), d, rt, fn)
	if err != nil {
		e = r.errorPage(rt.format, r.logged(req, err), 0)
	} else if e.status == http.StatusOK {
		w.Header()[tablecast.HeaderTXID] = s.TXIDHeader()
	}
	writeEntry(w, req, e)
}

// privateWriter marks every answer to a request with a bearer token as
// depending on it and not to be kept by any cache.
type privateWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *privateWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		h := w.Header()
		h["Cache-Control"] = privateCacheControl
		h["Vary"] = varyAuthorization
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *privateWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets a streamed CSV flush through.
func (w *privateWriter) Flush() { flush(w.ResponseWriter) }

// Unwrap is for http.ResponseController.
func (w *privateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

package routing

import (
	"net/http"
	"slices"
	"strings"

	"github.com/tablecast/tablecast"
)

// CookieName is the read-your-writes cookie, named as LiteFS's proxy names
// its own. Its value holds a TXID per database: "shop:000000000000002a.demo:…".
const CookieName = "__txid"

// bookmark is the freshest TXID of db the request asks for: the largest of
// ?_txid=, the Tablecast-Txid request header and the cookie's entry.
func bookmark(r *http.Request, db string) (tablecast.TXID, error) {
	var want tablecast.TXID
	for _, v := range [...]string{queryValue(r, "_txid"), tablecast.HeaderValue(r.Header, HeaderTXIDIn)} {
		if v == "" {
			continue
		}
		t, err := tablecast.ParseTXID(v)
		if err != nil {
			return 0, err
		}
		want = max(want, t)
	}
	if _, ok := r.Header["Cookie"]; !ok || db == "" {
		return want, nil
	}
	if c, err := r.Cookie(CookieName); err == nil {
		// A bad cookie is ignored, not an error: the client did not type it.
		if t, ok := parseCookie(c.Value)[db]; ok {
			want = max(want, t)
		}
	}
	return want, nil
}

func parseCookie(v string) map[string]tablecast.TXID {
	out := map[string]tablecast.TXID{}
	for _, part := range strings.Split(v, ".") {
		db, hex, ok := strings.Cut(part, ":")
		if !ok || tablecast.ValidateDBName(db) != nil {
			continue
		}
		if t, err := tablecast.ParseTXID(hex); err == nil {
			out[db] = t
		}
	}
	return out
}

func formatCookie(m map[string]tablecast.TXID) string {
	parts := make([]string, 0, len(m))
	for db, t := range m {
		parts = append(parts, db+":"+t.String())
	}
	slices.Sort(parts)
	return strings.Join(parts, ".")
}

// bookmarkWriter adds the read-your-writes cookie to a successful write's
// answer on the primary (forwarded writes carry it back through the proxy).
type bookmarkWriter struct {
	http.ResponseWriter
	req  *http.Request
	done bool
}

func (w *bookmarkWriter) WriteHeader(status int) {
	if !w.done {
		w.done = true
		w.setCookie(status)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *bookmarkWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (the 413
// answer flushes, then reads the rest of the body under a deadline).
func (w *bookmarkWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *bookmarkWriter) setCookie(status int) {
	txid, err := tablecast.ParseTXID(w.Header().Get(tablecast.HeaderTXID))
	route, _ := tablecast.ParseRoute(w.req.URL.EscapedPath())
	db := routeDB(route)
	if status/100 != 2 || err != nil || db == "" {
		return
	}
	m := map[string]tablecast.TXID{}
	if c, err := w.req.Cookie(CookieName); err == nil {
		m = parseCookie(c.Value)
	}
	m[db] = max(m[db], txid)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: formatCookie(m), Path: "/", MaxAge: 300,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// queryValue is the first value of a query parameter; a request without a
// query string parses nothing.
func queryValue(r *http.Request, key string) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get(key)
}

package primary

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tablecast/tablecast"
)

// DefaultSessionTTL bounds an admin session; it also ends with its token.
const DefaultSessionTTL = 12 * time.Hour

// Admin serves the admin pages under /-/admin (session cookie, CSRF-checked
// forms) and the admin JSON API under /-/admin/api (bearer token with the
// admin scope). Serve it on the primary: sessions and every change are
// written there. Routes:
//
//	GET  /-/admin                       databases, tables and views: state, rows, last change
//	GET  /-/admin/login, POST           sign in with a token that has the admin scope
//	POST /-/admin/logout
//	POST /-/admin/toggle                make a table or view public or private
//	POST /-/admin/toggle-db             make a whole database public (with or without SQL) or not
//	POST /-/admin/toggle-query          make a canned query public or private
//	GET  /-/admin/applied               which nodes have applied a toggle (refreshes until all)
//	GET  /-/admin/audit                 the admin audit log, paginated
//	GET  /-/admin/tokens, POST          list, make tokens
//	POST /-/admin/tokens/revoke
//	GET  /-/admin/applied.json          API: the same as /-/admin/applied
//	GET  /-/admin/api/tokens, POST      API: list, make tokens
//	POST /-/admin/api/tokens/{name}/revoke
//	GET  /-/admin/api/audit             API: the audit log
type Admin struct {
	Writer *Writer
	Tokens *Tokens
	// Nodes reports every node of the cluster with the TXID it has applied
	// of each database; nil reports this node alone.
	Nodes      func(ctx context.Context) ([]NodeState, error)
	SessionTTL time.Duration
	Logger     *slog.Logger
	// MaxUpload bounds an uploaded CSV file (0: DefaultMaxUpload);
	// UploadDir keeps uploads between preview and create ("": a
	// folder in the system's temporary folder), never in the mount.
	MaxUpload int64
	UploadDir string

	once sync.Once
	mux  *http.ServeMux
}

// NodeState is what a node says of itself, for the page after a toggle.
type NodeState struct {
	Name      string
	Region    string
	Role      string
	Reachable bool
	Error     string
	TXIDs     map[string]tablecast.TXID
}

// NewAdmin returns the admin handler of a writer and its tokens.
func NewAdmin(w *Writer, tokens *Tokens) *Admin {
	return &Admin{Writer: w, Tokens: tokens, SessionTTL: DefaultSessionTTL, Logger: w.logger()}
}

func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.once.Do(func() { a.mux = a.routes() })
	a.mux.ServeHTTP(w, r)
}

func (a *Admin) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /-/admin/style.css", serveCSS)
	mux.HandleFunc("GET /-/admin/login", a.loginForm)
	mux.HandleFunc("POST /-/admin/login", a.login)
	mux.HandleFunc("GET /-/admin", a.page(a.overview))
	mux.HandleFunc("GET /-/admin/{$}", a.page(a.overview))
	mux.HandleFunc("GET /-/admin/applied", a.page(a.appliedPage))
	mux.HandleFunc("GET /-/admin/audit", a.page(a.auditPage))
	mux.HandleFunc("GET /-/admin/tokens", a.page(a.tokensPage))
	mux.HandleFunc("POST /-/admin/logout", a.form(a.logout))
	mux.HandleFunc("POST /-/admin/toggle", a.form(a.toggle))
	mux.HandleFunc("POST /-/admin/toggle-db", a.form(a.toggleDB))
	mux.HandleFunc("POST /-/admin/toggle-query", a.form(a.toggleQuery))
	mux.HandleFunc("POST /-/admin/tokens", a.form(a.createToken))
	mux.HandleFunc("POST /-/admin/tokens/revoke", a.form(a.revokeToken))
	mux.HandleFunc("GET /-/admin/upload", a.page(a.uploadPage))
	mux.HandleFunc("POST /-/admin/upload", a.uploadForm(a.uploadPreview))
	mux.HandleFunc("POST /-/admin/upload/create", a.form(a.uploadCreate))
	mux.HandleFunc("GET /-/admin/applied.json", a.api(a.apiApplied))
	mux.HandleFunc("GET /-/admin/api/tokens", a.api(a.apiListTokens))
	mux.HandleFunc("POST /-/admin/api/tokens", a.api(a.apiCreateToken))
	mux.HandleFunc("POST /-/admin/api/tokens/{name}/revoke", a.api(a.apiRevokeToken))
	mux.HandleFunc("GET /-/admin/api/audit", a.api(a.apiAudit))
	mux.HandleFunc("/-/admin/", func(w http.ResponseWriter, r *http.Request) {
		tablecast.WriteError(w, r, a.logger(), tablecast.Errorf(tablecast.ENOTFOUND, "Not found"))
	})
	return mux
}

// Cookies. Both are HttpOnly, SameSite=Strict, Secure over https, and only
// sent to /-/admin.
const (
	sessionCookie = "tablecast_session" // the session's secret ID
	loginCookie   = "tablecast_login"   // the sign-in form's CSRF nonce
	cookiePath    = "/-/admin"
	maxFormBytes  = 64 << 10
)

// session is a signed-in admin.
type session struct {
	id        string // the cookie's value; only its hash is stored
	principal Principal
}

// csrf is the session's CSRF token: an HMAC of the session ID, so it needs
// no storage and only the holder of the (HttpOnly) cookie can know it.
func (s *session) csrf() string { return csrfFor(s.id) }

func csrfFor(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("tablecast admin csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var errNoSession = errors.New("no session")

// session returns the request's session: its cookie names a stored,
// unexpired session whose token is still usable and has the admin scope.
func (a *Admin) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || a.Tokens.Store == nil {
		return nil, errNoSession
	}
	rec, ok, err := a.Tokens.Store.session(r.Context(), HashToken(c.Value))
	if err != nil {
		return nil, err
	}
	if !ok || !a.Tokens.now().Before(rec.expiresAt) {
		return nil, errNoSession
	}
	p, err := a.Tokens.Lookup(r.Context(), rec.token)
	if tablecast.ErrorCode(err) == tablecast.EUNAUTHORIZED || (err == nil && !p.Has(ScopeAdmin)) {
		return nil, errNoSession
	} else if err != nil {
		return nil, err
	}
	return &session{id: c.Value, principal: p}, nil
}

// page wraps a GET page: no session sends the browser to sign in.
func (a *Admin) page(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		s, err := a.session(r)
		if errors.Is(err, errNoSession) {
			http.Redirect(w, r, "/-/admin/login", http.StatusSeeOther)
			return
		} else if err != nil {
			a.fail(w, r, nil, err)
			return
		}
		h(w, r, s)
	}
}

// form wraps a POST: it needs a session and the session's CSRF token in
// the form's csrf field, and refuses requests the browser says come from
// another site.
func (a *Admin) form(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		if err := parseForm(w, r); err != nil {
			a.fail(w, r, nil, err)
			return
		}
		s, err := a.session(r)
		if errors.Is(err, errNoSession) {
			a.fail(w, r, nil, tablecast.Errorf(tablecast.EUNAUTHORIZED, "Your session has ended: sign in again"))
			return
		} else if err != nil {
			a.fail(w, r, nil, err)
			return
		}
		if !sameSecret(r.PostFormValue("csrf"), s.csrf()) {
			a.fail(w, r, s, errCSRF)
			return
		}
		h(w, r, s)
	}
}

var errCSRF = tablecast.Errorf(tablecast.EFORBIDDEN, "The form's CSRF token is missing or wrong: reload the page and try again")

// parseForm reads a POST body of at most maxFormBytes, and refuses forms
// the browser marks as sent from another site.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return tablecast.Errorf(tablecast.EFORBIDDEN, "Forms from other sites are refused")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return tablecast.Errorf(tablecast.EINVALID, "Cannot read the form: %v", err)
	}
	return nil
}

// sameSecret compares two secrets in constant time; empty never matches.
func sameSecret(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// cookie makes one of the admin cookies; maxAge < 0 deletes it.
func (a *Admin) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: cookiePath, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isHTTPS(r)}
}

// isHTTPS reports whether the browser reached us over https, directly or
// through a proxy that terminated TLS. A forged header only adds Secure.
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

// setPageHeaders: no caching, no framing, no scripts, forms to us only.
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// loginForm serves the sign-in form with a fresh CSRF nonce, kept in a
// cookie and checked against the form field (double submit).
func (a *Admin) loginForm(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	if s, err := a.session(r); err == nil && s != nil {
		http.Redirect(w, r, "/-/admin", http.StatusSeeOther)
		return
	}
	a.renderLogin(w, r, http.StatusOK, "")
}

func (a *Admin) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	nonce, err := NewSecret()
	if err != nil {
		a.fail(w, r, nil, err)
		return
	}
	http.SetCookie(w, a.cookie(r, loginCookie, nonce, 0))
	a.render(w, r, status, "login", &pageData{Title: "Sign in", CSRF: nonce, Error: msg})
}

// login checks the form's nonce and the token, then opens a session.
func (a *Admin) login(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	if err := parseForm(w, r); err != nil {
		a.fail(w, r, nil, err)
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameSecret(r.PostFormValue("csrf"), c.Value) {
		a.renderLogin(w, r, http.StatusForbidden, "The sign-in form expired or came from elsewhere: try again.")
		return
	}
	p, err := a.Tokens.Check(r.Context(), strings.TrimSpace(r.PostFormValue("token")))
	if err == nil {
		err = p.require(ScopeAdmin)
	}
	if err != nil {
		code := tablecast.ErrorCode(err)
		if code != tablecast.EUNAUTHORIZED && code != tablecast.EFORBIDDEN {
			a.fail(w, r, nil, err)
			return
		}
		a.renderLogin(w, r, tablecast.StatusOf(code), tablecast.ErrorMessage(err)+".")
		return
	}
	if err := a.openSession(w, r, p); err != nil {
		a.fail(w, r, nil, err)
		return
	}
	http.Redirect(w, r, "/-/admin", http.StatusSeeOther)
}

func (a *Admin) openSession(w http.ResponseWriter, r *http.Request, p Principal) error {
	if a.Tokens.Store == nil {
		return tablecast.Errorf(tablecast.EUNAVAILABLE, "This node keeps no session database")
	}
	id, err := NewSecret()
	if err != nil {
		return err
	}
	ttl := a.SessionTTL
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	if err := a.Tokens.Store.openSession(r.Context(), HashToken(id), p.Name, a.Tokens.now().Add(ttl)); err != nil {
		return err
	}
	http.SetCookie(w, a.cookie(r, sessionCookie, id, int(ttl/time.Second)))
	http.SetCookie(w, a.cookie(r, loginCookie, "", -1))
	return nil
}

func (a *Admin) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if err := a.Tokens.Store.closeSession(r.Context(), HashToken(s.id), s.principal.Name); err != nil {
		a.fail(w, r, s, err)
		return
	}
	http.SetCookie(w, a.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/-/admin/login", http.StatusSeeOther)
}

// fail renders an error page with the status of err's code.
func (a *Admin) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code := tablecast.ErrorCode(err)
	if code == tablecast.EINTERNAL {
		a.logger().Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	a.render(w, r, tablecast.StatusOf(code), "error", &pageData{Title: "Error", Session: s, Error: tablecast.ErrorMessage(err)})
}

func (a *Admin) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.Default()
	}
	return a.Logger
}

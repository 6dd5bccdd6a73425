package primary

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/tablecast/tablecast"
)

// api wraps a JSON route: a bearer token with the admin scope, errors as
// JSON. Cookies are not looked at, so no CSRF can reach these routes.
func (a *Admin) api(h func(http.ResponseWriter, *http.Request, Principal) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		p, err := a.Tokens.Authorize(r, ScopeAdmin)
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			if tablecast.ErrorCode(err) == tablecast.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", "Bearer")
			}
			tablecast.WriteError(w, r, a.logger(), err)
		}
	}
}

// apiListTokens: GET /-/admin/api/tokens.
func (a *Admin) apiListTokens(w http.ResponseWriter, r *http.Request, _ Principal) error {
	list, err := a.Tokens.List(r.Context())
	if err != nil {
		return err
	}
	tablecast.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "tokens": list})
	return nil
}

// createBody is the body of POST /-/admin/api/tokens.
type createBody struct {
	Name    string   `json:"name"`
	Scopes  []string `json:"scopes"`
	Expires string   `json:"expires"`
}

// apiCreateToken: POST /-/admin/api/tokens. The answer holds the secret,
// shown this once, and "synced": whether another candidate has the token.
func (a *Admin) apiCreateToken(w http.ResponseWriter, r *http.Request, p Principal) error {
	var body createBody
	if err := readJSON(w, r, &body); err != nil {
		return err
	}
	info, secret, txid, err := a.Tokens.Create(r.Context(), NewToken(body), p.Name)
	if err != nil {
		return err
	}
	synced := a.sync(r.Context(), txid)
	a.logger().Info("token created", "token", info.Name, "scopes", info.Scopes, "by", p.Name, "txid", txid)
	tablecast.WriteJSON(w, http.StatusCreated, map[string]any{"ok": true, "token": info, "secret": secret,
		"txid": txid.String(), "synced": synced})
	return nil
}

// apiRevokeToken: POST /-/admin/api/tokens/{name}/revoke.
func (a *Admin) apiRevokeToken(w http.ResponseWriter, r *http.Request, p Principal) error {
	info, txid, err := a.Tokens.Revoke(r.Context(), r.PathValue("name"), p.Name)
	if err != nil {
		return err
	}
	synced := a.sync(r.Context(), txid)
	a.logger().Info("token revoked", "token", info.Name, "by", p.Name, "txid", txid)
	tablecast.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "token": info, "txid": txid.String(), "synced": synced})
	return nil
}

// apiAudit: GET /-/admin/api/audit?before=ID&limit=N, newest first; pass
// "next" back as before for the next page.
func (a *Admin) apiAudit(w http.ResponseWriter, r *http.Request, _ Principal) error {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	limit, err := strconv.Atoi(q.Get("limit"))
	if q.Get("limit") == "" {
		limit, err = 100, nil
	}
	if err != nil || limit < 1 || limit > 1000 {
		return tablecast.Errorf(tablecast.EINVALID, "limit must be from 1 to 1000")
	}
	entries, older, err := a.auditPageOf(r.Context(), before, limit)
	if err != nil {
		return err
	}
	body := map[string]any{"ok": true, "entries": entries, "next": nil}
	if entries == nil {
		body["entries"] = []AuditEntry{}
	}
	if older > 0 {
		body["next"] = older
	}
	tablecast.WriteJSON(w, http.StatusOK, body)
	return nil
}

// apiApplied: GET /-/admin/applied.json?db=NAME&txid=HEX: which nodes have
// applied that TXID of db.
func (a *Admin) apiApplied(w http.ResponseWriter, r *http.Request, _ Principal) error {
	db, txid, err := appliedQuery(r)
	if err != nil {
		return err
	}
	nodes, done, err := a.applied(r.Context(), db, txid)
	if err != nil {
		return err
	}
	tablecast.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "db": db, "txid": txid.String(), "done": done, "nodes": nodes})
	return nil
}

// readJSON reads a JSON object of at most maxFormBytes into v, refusing
// unknown keys. An empty body leaves v as it is.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return tablecast.Errorf(tablecast.EINVALID, "Invalid JSON: %v", err)
	}
	return nil
}

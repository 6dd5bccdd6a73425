package primary

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// SetQueryPublic makes the canned query name of db public or private on
// behalf of token, audited in the database and in the admin audit log.
func (w *Writer) SetQueryPublic(ctx context.Context, db, name string, public bool, token string) (tablecast.TXID, error) {
	if err := tablecast.ValidateDBName(db); err != nil {
		return 0, err
	}
	if err := validateQueryName(name); err != nil {
		return 0, err
	}
	h, err := w.open(db, false)
	if err != nil {
		return 0, err
	}
	txid, err := w.write(ctx, db, h, func(tx *sql.Tx) error { return gate.SetQueryPublic(ctx, tx, name, public, token) })
	if err != nil {
		return 0, err
	}
	action := tablecast.ActionUnpublishQuery
	if public {
		action = tablecast.ActionPublishQuery
	}
	w.auditAction(ctx, action, db, "query:"+name, token, txid)
	return txid, nil
}

// cannedQueries reads a database's canned queries, for the admin pages.
func (w *Writer) cannedQueries(ctx context.Context, db string) ([]*gate.Query, error) {
	u := url.URL{Path: w.path(db)}
	conn, err := sql.Open("sqlite3", "file:"+u.EscapedPath()+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	return gate.ListQueries(ctx, tx)
}

// toggleQuery makes a canned query public or private, then shows which
// nodes have applied the change.
func (a *Admin) toggleQuery(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.principal.require(ScopePublish); err != nil {
		a.fail(w, r, s, err)
		return
	}
	db, name, public := r.PostFormValue("db"), r.PostFormValue("query"), r.PostFormValue("public") == "1"
	txid, err := a.Writer.SetQueryPublic(r.Context(), db, name, public, s.principal.Name)
	if err != nil {
		a.fail(w, r, s, err)
		return
	}
	q := url.Values{"db": {db}, "table": {"query:" + name}, "public": {strconv.FormatBool(public)}, "txid": {txid.String()}}
	http.Redirect(w, r, "/-/admin/applied?"+q.Encode(), http.StatusSeeOther)
}

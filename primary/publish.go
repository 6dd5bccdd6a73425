package primary

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"time"

	"github.com/tablecast/tablecast"
)

// publish serves POST /{db}/{table}/-/publish and /-/unpublish.
func (w *Writer) publish(ctx context.Context, req *request, public bool) (*result, error) {
	if req.table == "" {
		return w.publishDatabase(ctx, req, public)
	}
	if _, err := decodeBody(req.body); err != nil {
		return nil, err
	}
	name, txid, err := w.SetPublic(ctx, req.db, req.table, public, req.token)
	if err != nil {
		return nil, err
	}
	return &result{status: http.StatusOK, txid: txid, body: map[string]any{"table": name, "public": public}}, nil
}

// SetPublic lists (public) or unlists a table or view in its database's
// _public_tables, on behalf of the token named token. The change is
// audited in the database's _public_audit and in the admin audit log with
// its TXID. It returns the name as spelled in the schema and the TXID.
func (w *Writer) SetPublic(ctx context.Context, db, table string, public bool, token string) (string, tablecast.TXID, error) {
	if err := tablecast.ValidateDBName(db); err != nil {
		return "", 0, err
	}
	if err := tablecast.ValidateTableName(table); err != nil {
		return "", 0, err
	}
	h, err := w.open(db, false)
	if err != nil {
		return "", 0, err
	}
	var name string
	txid, err := w.write(ctx, db, h, func(tx *sql.Tx) error {
		var err error
		if name, err = publishTarget(ctx, tx, table, public); err != nil {
			return err
		}
		return setPublic(ctx, tx, name, public, token)
	})
	if err != nil {
		return "", 0, err
	}
	w.auditVisibility(ctx, db, name, public, token, txid)
	return name, txid, nil
}

// auditVisibility appends a publish or unpublish, with its TXID, to the
// admin audit log. The change is committed already: a failure is logged.
func (w *Writer) auditVisibility(ctx context.Context, db, table string, public bool, token string, txid tablecast.TXID) {
	action := actionUnpublish
	if public {
		action = actionPublish
	}
	e := AuditEntry{Token: token, Action: action, DB: db, Target: table, TXID: txid.String()}
	ctx = context.WithoutCancel(ctx) // a client that leaves now must not skip the audit
	if _, err := w.Control().write(ctx, func(tx *sql.Tx) error { return appendAudit(ctx, tx, e) }); err != nil {
		w.logger().Error("admin audit", "action", action, "db", db, "table", table, "txid", txid, "err", err)
	}
}

// publishTarget returns the name of the table or view to publish, as
// spelled in the schema. A public table that was dropped can still be
// unpublished.
func publishTarget(ctx context.Context, tx *sql.Tx, name string, public bool) (string, error) {
	found, _, err := findObject(ctx, tx, name)
	if err == nil || public || tablecast.ErrorCode(err) != tablecast.ENOTFOUND {
		return found, err
	}
	var listed string
	q := "SELECT table_name FROM " + tablecast.QuoteIdent(tablecast.PublicTablesTable) + " WHERE table_name = ?"
	switch qerr := tx.QueryRowContext(ctx, q, name).Scan(&listed); {
	case qerr == nil:
		return listed, nil
	case errors.Is(qerr, sql.ErrNoRows):
		return "", err
	default:
		return "", sqliteError("look up public table", qerr)
	}
}

// setPublic lists or unlists a table in _public_tables and audits it.
func setPublic(ctx context.Context, tx *sql.Tx, name string, public bool, token string) error {
	now := timestamp()
	action := actionUnpublish
	q := "DELETE FROM " + tablecast.QuoteIdent(tablecast.PublicTablesTable) + " WHERE table_name = ?"
	args := []any{name}
	if public {
		action = actionPublish
		q = "INSERT OR IGNORE INTO " + tablecast.QuoteIdent(tablecast.PublicTablesTable) +
			" (table_name, published_at, published_by) VALUES (?, ?, ?)"
		args = []any{name, now, token}
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return sqliteError(action, err)
	}
	audit := "INSERT INTO " + tablecast.QuoteIdent(tablecast.PublicAuditTable) +
		" (at, action, table_name, token_name) VALUES (?, ?, ?, ?)"
	if _, err := tx.ExecContext(ctx, audit, now, action, name, token); err != nil {
		return sqliteError("audit "+action, err)
	}
	if err := bumpGate(ctx, tx); err != nil {
		return err
	}
	return bumpVersions(ctx, tx, name)
}

// timestamp is the current time, UTC, RFC 3339 with milliseconds.
func timestamp() string {
	return formatTime(time.Now())
}

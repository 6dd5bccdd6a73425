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
	if _, err := decodeBody(req.body); err != nil {
		return nil, err
	}
	h, err := w.open(req.db, false)
	if err != nil {
		return nil, err
	}
	var name string
	txid, err := w.write(ctx, req.db, h, func(tx *sql.Tx) error {
		var err error
		if name, err = publishTarget(ctx, tx, req.table, public); err != nil {
			return err
		}
		return setPublic(ctx, tx, name, public, req.token)
	})
	if err != nil {
		return nil, err
	}
	return &result{status: http.StatusOK, txid: txid, body: map[string]any{"table": name, "public": public}}, nil
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
	return bumpVersions(ctx, tx, name)
}

// timestamp is the current time, UTC, RFC 3339 with milliseconds.
func timestamp() string {
	return time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

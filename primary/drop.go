package primary

import (
	"context"
	"database/sql"
	"net/http"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// dropMessage is Datasette's answer to a drop without "confirm".
const dropMessage = `Pass "confirm": true to confirm`

// drop serves POST /{db}/{table}/-/drop, for a table or a view. Without
// {"confirm": true} nothing changes and the answer says how many rows
// would go, as Datasette's; with it the table or view is dropped, and
// taken off the gate in the same transaction (gate.Drop).
func (w *Writer) drop(ctx context.Context, req *request) (*result, error) {
	p, err := decodeBody(req.body, "confirm")
	if err != nil {
		return nil, err
	}
	confirm, err := p.getBool("confirm")
	if err != nil {
		return nil, err
	}
	h, err := w.open(req.db, false)
	if err != nil {
		return nil, err
	}
	if !confirm {
		return w.dropPreview(ctx, req, h)
	}
	var name string
	txid, err := w.write(ctx, req.db, h, func(tx *sql.Tx) error {
		var err error
		name, err = dropIn(ctx, tx, req.table, req.token)
		return err
	})
	if err != nil {
		return nil, err
	}
	w.auditDrop(ctx, req.db, name, req.token, txid)
	return &result{status: http.StatusOK, txid: txid, body: map[string]any{}}, nil
}

// dropIn drops the table or view name in tx, and its listing in the gate,
// and bumps its version. It returns the name as spelled in the schema.
func dropIn(ctx context.Context, tx *sql.Tx, name, token string) (string, error) {
	found, typ, err := findObject(ctx, tx, name)
	if err != nil {
		return "", err
	}
	stmt := "DROP TABLE "
	if typ == "view" {
		stmt = "DROP VIEW "
	}
	if _, err := tx.ExecContext(ctx, stmt+tablecast.QuoteIdent(found)); err != nil {
		return "", sqliteError("drop "+typ, err)
	}
	if err := gate.Drop(ctx, tx, found, token); err != nil {
		return "", sqliteError("drop from the gate", err)
	}
	return found, bumpVersions(ctx, tx, found)
}

// dropPreview answers a drop without "confirm": the table's row count, in
// a transaction rolled back, at the TXID it reports. A view that cannot be
// counted (it reads a table dropped since) has a null row_count.
func (w *Writer) dropPreview(ctx context.Context, req *request, h *handle) (*result, error) {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, sqliteError("begin", err)
	}
	defer func() { _ = tx.Rollback() }()
	name, typ, err := findObject(ctx, tx, req.table)
	if err != nil {
		return nil, err
	}
	var count sql.NullInt64
	err = tx.QueryRowContext(ctx, "SELECT count(*) FROM "+tablecast.QuoteIdent(name)).Scan(&count)
	if err != nil && typ == "table" {
		return nil, sqliteError("count rows", err)
	}
	var rows any // null when not counted
	if count.Valid {
		rows = count.Int64
	}
	// The transaction holds the database's write lock: no commit can come
	// between the count and this TXID.
	txid, _ := w.Positions.TXID(req.db)
	body := map[string]any{"database": req.db, "table": name, "row_count": rows, "message": dropMessage}
	return &result{status: http.StatusOK, txid: txid, body: body, preview: true}, nil
}

// auditDrop appends a drop, with its TXID, to the admin audit log. The
// drop is committed already: a failure is logged.
func (w *Writer) auditDrop(ctx context.Context, db, name, token string, txid tablecast.TXID) {
	e := AuditEntry{Token: token, Action: tablecast.ActionDrop, DB: db, Target: name, TXID: txid.String()}
	ctx = context.WithoutCancel(ctx) // a client that leaves now must not skip the audit
	if _, err := w.Control().write(ctx, func(tx *sql.Tx) error { return appendAudit(ctx, tx, e) }); err != nil {
		w.logger().Error("admin audit", "action", e.Action, "db", db, "table", name, "txid", txid, "err", err)
	}
}

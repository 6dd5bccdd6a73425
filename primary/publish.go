package primary

import (
	"context"
	"database/sql"
	"net/http"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
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
	action := tablecast.ActionUnpublish
	if public {
		action = tablecast.ActionPublish
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
	switch listed, qerr := gate.IsListed(ctx, tx, name); {
	case qerr != nil:
		return "", sqliteError("look up public table", qerr)
	case listed:
		return name, nil
	}
	return "", err
}

// setPublic lists or unlists a table in _public_tables (gate.Publish,
// gate.Unpublish), audited and versioned.
func setPublic(ctx context.Context, tx *sql.Tx, name string, public bool, token string) error {
	set, action := gate.Unpublish, tablecast.ActionUnpublish
	if public {
		set, action = gate.Publish, tablecast.ActionPublish
	}
	if err := set(ctx, tx, name, token); err != nil {
		return sqliteError(action, err)
	}
	return nil
}

// timestamp is the current time, UTC, RFC 3339 with milliseconds.
func timestamp() string {
	return formatTime(time.Now())
}

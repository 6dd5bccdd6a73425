package primary

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// databaseSwitches is the body of POST /{db}/-/publish: every table and
// view public (AllTables, default true), and public SQL (SQL, default
// false). POST /{db}/-/unpublish turns both off; tables listed one by one
// in _public_tables stay public.
type databaseSwitches struct {
	AllTables *bool `json:"all_tables"`
	SQL       bool  `json:"sql"`
}

func decodeSwitches(body []byte) (databaseSwitches, error) {
	var s databaseSwitches
	if len(bytes.TrimSpace(body)) == 0 {
		return s, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, tablecast.Errorf(tablecast.EINVALID, "Invalid JSON body: %v (keys: all_tables, sql)", err)
	}
	return s, nil
}

// publishDatabase serves POST /{db}/-/publish and /-/unpublish.
func (w *Writer) publishDatabase(ctx context.Context, req *request, public bool) (*result, error) {
	sw, err := decodeSwitches(req.body)
	if err != nil {
		return nil, err
	}
	all, allowSQL := public, public && sw.SQL
	if public && sw.AllTables != nil {
		all = *sw.AllTables
	}
	txid, err := w.SetDatabasePublic(ctx, req.db, all, allowSQL, req.token)
	if err != nil {
		return nil, err
	}
	return &result{status: http.StatusOK, txid: txid, body: map[string]any{
		"database": req.db, "all_tables": all, "sql": allowSQL}}, nil
}

// SetDatabasePublic sets the database-wide switches in _public_database
// (every table public; public SQL), audited and versioned in the same
// transaction, and in the admin audit log with its TXID.
func (w *Writer) SetDatabasePublic(ctx context.Context, db string, all, allowSQL bool, token string) (tablecast.TXID, error) {
	if err := tablecast.ValidateDBName(db); err != nil {
		return 0, err
	}
	h, err := w.open(db, false)
	if err != nil {
		return 0, err
	}
	txid, err := w.write(ctx, db, h, func(tx *sql.Tx) error {
		return setDatabaseSwitches(ctx, tx, all, allowSQL, token)
	})
	if err != nil {
		return 0, err
	}
	w.auditVisibility(ctx, db, "*", all || allowSQL, token, txid)
	return txid, nil
}

// databaseSwitchesOf reads the switches (both off when the table is absent).
func databaseSwitchesOf(ctx context.Context, tx *sql.Tx) (all, allowSQL bool, err error) {
	return gate.DatabaseSwitches(ctx, tx)
}

func setDatabaseSwitches(ctx context.Context, tx *sql.Tx, all, allowSQL bool, token string) error {
	if err := gate.SetDatabase(ctx, tx, all, allowSQL, token); err != nil {
		return sqliteError("publish database", err)
	}
	return nil
}

package primary

import (
	"context"
	"database/sql"

	"github.com/tablecast/tablecast"
)

// tablePublic reports whether anyone may read table in tx, as the read
// path's gate decides it at the same TXID: listed in _public_tables (by
// its exact name), or the whole database is public.
func tablePublic(ctx context.Context, tx *sql.Tx, table string) (bool, error) {
	all, _, err := databaseSwitchesOf(ctx, tx)
	if err != nil {
		return false, sqliteError("read database switches", err)
	}
	if all {
		return true, nil
	}
	var listed bool
	err = tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+tablecast.QuoteIdent(tablecast.PublicTablesTable)+
		" WHERE table_name = ?)", table).Scan(&listed)
	if isNoSuchTable(err) {
		return false, nil
	} else if err != nil {
		return false, sqliteError("read public tables", err)
	}
	return listed, nil
}

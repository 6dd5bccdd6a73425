package primary

import (
	"context"
	"database/sql"

	"github.com/tablecast/tablecast/replica/gate"
)

// tablePublic reports whether anyone may read table in tx, as the read
// path's gate decides it at the same TXID (gate.TablePublic).
func tablePublic(ctx context.Context, tx *sql.Tx, table string) (bool, error) {
	public, err := gate.TablePublic(ctx, tx, table)
	if err != nil {
		return false, sqliteError("read public tables", err)
	}
	return public, nil
}

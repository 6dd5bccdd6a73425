package fsmount

import (
	"context"
	"fmt"
	"os"

	"github.com/superfly/litefs"
	"github.com/tablecast/tablecast"
)

// Import replaces the content of database db with the SQLite file at path
// (a whole database, checked by the caller: LiteFS does not check it), in
// one LiteFS transaction that replicas apply as any other: LiteFS's own
// import (litefs.DB.Import, what its HTTP /import endpoint runs, which
// tablecast does not serve), creating the database first if needed. It
// returns the TXID of that transaction. Primary only; the context ends
// early if this node loses the lease.
//
// LiteFS resets the file change counter and the schema cookie of the
// imported file to 0 so that open connections reload the schema; the
// caller must move the cookie on (primary.Writer does).
func (m *Mount) Import(ctx context.Context, db, path string) (tablecast.TXID, error) {
	if !m.Store.IsPrimary() {
		return 0, litefs.ErrReadOnlyReplica
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open import file: %w", err)
	}
	defer f.Close()
	d, err := m.Store.CreateDBIfNotExists(tablecast.DBFileName(db))
	if err != nil {
		return 0, fmt.Errorf("create database %s: %w", db, err)
	}
	ctx = m.Store.PrimaryCtx(ctx)
	if err := d.Import(ctx, f); err != nil {
		return 0, fmt.Errorf("import %s: %w", db, err)
	}
	m.dbs.Store(db, d)
	return tablecast.TXID(d.Pos().TXID), nil
}

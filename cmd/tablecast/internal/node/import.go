package node

import (
	"context"
	"os"
	"path/filepath"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/primary"
)

// importDir holds imported files while the primary checks and prepares
// them: under data.dir, on local disk (never the FUSE mount) and under
// the free-space floor. Emptied at start (what a crash left).
const importDir = "import"

// imports wires POST /{db}/-/import: LiteFS's import through the mount,
// and every node's TXIDs for the wait (as the admin page's "Applied?").
func (n *Node) imports() *primary.Imports {
	dir := filepath.Join(n.opts.DataDir, importDir)
	if err := os.RemoveAll(dir); err != nil {
		n.logger.Warn("clear import dir", "dir", dir, "err", err)
	}
	return &primary.Imports{
		Import: func(ctx context.Context, db, path string) (tablecast.TXID, error) {
			return n.mount.Import(ctx, db, path)
		},
		Nodes:    n.nodeStates,
		MaxBytes: n.opts.MaxImport,
		TempDir:  dir,
		Wait:     n.opts.ImportWait,
	}
}

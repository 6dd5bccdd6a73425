package fsmount

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/superfly/litefs"
	"github.com/superfly/ltx"
	"github.com/tablecast/tablecast"
)

var _ tablecast.PosReader = (*Mount)(nil)

// Pos is database db's position on this node: TXID and LiteFS's
// post-apply checksum of the whole database.
func (m *Mount) Pos(db string) (tablecast.Pos, bool) {
	d := m.storeDB(db)
	if d == nil {
		return tablecast.Pos{}, false
	}
	return toPos(d.Pos()), true
}

func toPos(p ltx.Pos) tablecast.Pos {
	return tablecast.Pos{TXID: tablecast.TXID(p.TXID), Checksum: uint64(p.PostApplyChecksum)}
}

// Covers reports whether this node's history of db passes through want:
// the rule every confirmation of a synchronous write and every new
// primary rests on. It holds when
//
//   - the node is at want exactly (same TXID, same checksum), or
//   - the node is past want.TXID and the LTX file LiteFS kept for
//     want.TXID ends with want.Checksum.
//
// The second case is sound because a node's LTX files always describe its
// current history: a replica applies a transaction only on top of the
// position it was made from (LiteFS checks the pre-apply checksum), and
// when it is moved to another history it receives a snapshot and LiteFS
// deletes every other LTX file. A node that is behind, that has another
// checksum at want.TXID, or whose file for want.TXID is gone (retention,
// default 10 min) does not cover want; reason says which.
func (m *Mount) Covers(db string, want tablecast.Pos) (ok bool, reason string) {
	d := m.storeDB(db)
	if d == nil {
		return false, "no such database here"
	}
	cur := toPos(d.Pos())
	switch {
	case cur.TXID < want.TXID:
		return false, fmt.Sprintf("behind: at %s", cur)
	case cur.TXID == want.TXID:
		if cur.Checksum != want.Checksum {
			return false, fmt.Sprintf("another history: at %s", cur)
		}
		return true, ""
	}
	sum, err := ltxPostApply(d, ltx.TXID(want.TXID))
	if err != nil {
		return false, fmt.Sprintf("at %s, cannot tell %s: %v", cur, want.TXID, err)
	}
	if sum != want.Checksum {
		return false, fmt.Sprintf("another history: at %s, had %016x at %s", cur, sum, want.TXID)
	}
	return true, ""
}

// ltxPostApply reads the post-apply checksum from the trailer of the LTX
// file that ends at txid: the transaction's own file, or the snapshot
// (1-txid) a node received when it was moved to this history.
func ltxPostApply(d *litefs.DB, txid ltx.TXID) (uint64, error) {
	f, err := d.OpenLTXFile(txid)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.Open(d.LTXPath(1, txid))
	}
	if err != nil {
		return 0, fmt.Errorf("open ltx file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat ltx file: %w", err)
	}
	b := make([]byte, ltx.TrailerSize)
	if _, err := f.ReadAt(b, fi.Size()-ltx.TrailerSize); err != nil && err != io.EOF {
		return 0, fmt.Errorf("read ltx trailer: %w", err)
	}
	var tr ltx.Trailer
	if err := tr.UnmarshalBinary(b); err != nil {
		return 0, fmt.Errorf("decode ltx trailer: %w", err)
	}
	return uint64(tr.PostApplyChecksum), nil
}

// WaitCovers waits until this node's history of db passes through want
// (see Covers). It returns an error at once when the node is past
// want.TXID on another history (waiting cannot help), or when ctx ends.
func (m *Mount) WaitCovers(ctx context.Context, db string, want tablecast.Pos) error {
	for {
		ch := m.changes.wait()
		if ok, reason := m.Covers(db, want); ok {
			return nil
		} else if cur, found := m.Pos(db); found && cur.TXID >= want.TXID {
			return fmt.Errorf("%s: %s: %w", want, reason, ErrOtherHistory)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// ErrOtherHistory: this node is at or past the position asked about, on a
// history that does not pass through it (or no longer shows that it does).
var ErrOtherHistory = errors.New("not on this node's history")

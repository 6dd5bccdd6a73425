package replica

import (
	"context"
	"sync"
	"time"

	"github.com/tablecast/tablecast"
)

// pinGroup lets one request pin a database's new snapshot while the
// requests that arrive meanwhile wait for it, instead of each opening its
// own read transaction behind LiteFS's apply lock.
type pinGroup struct {
	mu      sync.Mutex
	pending chan struct{} // closed when the pin in flight ends; nil if none
}

// settler is a Positions that can wait until the transaction it moved to
// is fully applied (fsmount.Mount): LiteFS moves the TXID before it lets
// readers in.
type settler interface {
	Settle(ctx context.Context, db string)
}

// current returns a snapshot at least as new as txid (the TXID the request
// arrived at), pinning it if needed; nil when none could be had.
func (r *Reader) current(ctx context.Context, d *database, txid tablecast.TXID) *snapshot {
	if r.Ungated {
		return nil
	}
	if s := d.last.Load(); s != nil && s.TXID >= txid {
		return s
	}
	d.pins.mu.Lock()
	if ch := d.pins.pending; ch != nil {
		d.pins.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	} else {
		ch := make(chan struct{})
		d.pins.pending = ch
		d.pins.mu.Unlock()
		start := time.Now()
		if st, ok := r.Positions.(settler); ok {
			st.Settle(ctx, d.name)
		}
		_, _ = r.read(ctx, d, func(*readTx) error { return nil })
		if r.OnCatchUp != nil {
			r.OnCatchUp(time.Since(start))
		}
		d.pins.mu.Lock()
		d.pins.pending = nil
		d.pins.mu.Unlock()
		close(ch)
	}
	if s := d.last.Load(); s != nil && s.TXID >= txid {
		return s
	}
	return nil
}

// setLast records s as the database's snapshot, never going backwards.
func (d *database) setLast(s *snapshot) {
	for {
		old := d.last.Load()
		if old != nil && old.TXID >= s.TXID {
			return
		}
		if d.last.CompareAndSwap(old, s) {
			return
		}
	}
}

package fsmount

import (
	"sync/atomic"
	"time"

	"github.com/superfly/litefs"
	lfsfuse "github.com/superfly/litefs/fuse"
)

// heard records, on this node's monotonic clock, the last time it heard
// from the primary. LiteFS calls its Invalidator's InvalidateLag each time
// it records the primary's timestamp: a transaction applied, a heartbeat
// (every second on an idle stream), or a change of this node's own lease.
type heard struct {
	base time.Time    // monotonic origin
	at   atomic.Int64 // nanoseconds since base
}

func (h *heard) init() {
	h.base = time.Now()
	h.at.Store(0)
}

func (h *heard) touch() { h.at.Store(int64(time.Since(h.base))) }

func (h *heard) since() time.Duration {
	if h.base.IsZero() {
		return 0
	}
	return time.Since(h.base) - time.Duration(h.at.Load())
}

// heardInvalidator passes LiteFS's invalidations on to the FUSE file
// system and notes every update of the primary's timestamp. The store
// gets it before it opens, since its goroutines call Store.Invalidator
// from then on (set after Open, it raced with them: go test -race on a
// node). The file system, mounted only after the store opens, is handed
// over through an atomic pointer; until then there is nothing in the
// kernel's cache to invalidate.
type heardInvalidator struct {
	fs atomic.Pointer[lfsfuse.FileSystem]
	h  *heard
}

var _ litefs.Invalidator = (*heardInvalidator)(nil)

func (i *heardInvalidator) InvalidateLag() error {
	i.h.touch()
	if fs := i.fs.Load(); fs != nil {
		return fs.InvalidateLag()
	}
	return nil
}

func (i *heardInvalidator) InvalidateDB(db *litefs.DB) error {
	if fs := i.fs.Load(); fs != nil {
		return fs.InvalidateDB(db)
	}
	return nil
}

func (i *heardInvalidator) InvalidateDBRange(db *litefs.DB, offset, size int64) error {
	if fs := i.fs.Load(); fs != nil {
		return fs.InvalidateDBRange(db, offset, size)
	}
	return nil
}

func (i *heardInvalidator) InvalidateSHM(db *litefs.DB) error {
	if fs := i.fs.Load(); fs != nil {
		return fs.InvalidateSHM(db)
	}
	return nil
}

func (i *heardInvalidator) InvalidatePos(db *litefs.DB) error {
	if fs := i.fs.Load(); fs != nil {
		return fs.InvalidatePos(db)
	}
	return nil
}

func (i *heardInvalidator) InvalidateEntry(name string) error {
	if fs := i.fs.Load(); fs != nil {
		return fs.InvalidateEntry(name)
	}
	return nil
}

// SinceHeard is how long ago this node last heard from the primary (a
// transaction, a heartbeat, or losing the lease itself), measured on this
// node's clock; 0 while it holds the lease. Unlike Lag it does not read
// 0 on a node that was primary and lost its lease without a new stream.
func (m *Mount) SinceHeard() time.Duration {
	if m.Store == nil || m.Store.PrimaryTimestamp() == 0 { // 0: this node is the primary
		return 0
	}
	return m.heard.since()
}

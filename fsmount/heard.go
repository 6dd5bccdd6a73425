package fsmount

import (
	"sync/atomic"
	"time"

	"github.com/superfly/litefs"
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
// system and notes every update of the primary's timestamp.
type heardInvalidator struct {
	litefs.Invalidator
	h *heard
}

func (i heardInvalidator) InvalidateLag() error {
	i.h.touch()
	return i.Invalidator.InvalidateLag()
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

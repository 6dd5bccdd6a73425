package fsmount

import (
	"context"
	"sync"

	"github.com/tablecast/tablecast"
)

// changes broadcasts "some database moved" from LiteFS's event stream, so
// that readers holding a TXID bookmark wait without polling.
type changes struct {
	mu sync.Mutex
	ch chan struct{} // closed at the next transaction, then replaced
}

func (c *changes) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

func (c *changes) broadcast() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
}

// watchEvents relays LiteFS's events until the store closes. LiteFS drops
// a subscriber whose buffer is full; then we subscribe again.
func (m *Mount) watchEvents(done <-chan struct{}) {
	for {
		sub := m.Store.SubscribeEvents()
		for range sub.C() {
			m.changes.broadcast()
		}
		select {
		case <-done:
			return
		default:
			m.changes.broadcast() // events may have been lost
		}
	}
}

// WaitTXID waits until database db has applied txid, or ctx ends.
func (m *Mount) WaitTXID(ctx context.Context, db string, txid tablecast.TXID) error {
	for {
		ch := m.changes.wait()
		if got, ok := m.TXID(db); ok && got >= txid {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

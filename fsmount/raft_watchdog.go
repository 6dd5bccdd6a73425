package fsmount

import (
	"context"
	"time"
)

// watchAcquire checks a few times per AcquireTimeout whether this node
// leads raft without holding the lease, and hands leadership on once that
// has lasted AcquireTimeout.
func (l *RaftLeaser) watchAcquire() {
	tick := time.NewTicker(l.AcquireTimeout / 4)
	defer tick.Stop()
	var since time.Time // leading without the lease since then
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		switch {
		case !l.node.IsLeader() || l.Current() != nil:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= l.AcquireTimeout:
			since = time.Time{}
			l.handOn()
		}
	}
}

// handOn transfers raft leadership to the last lease holder, a node whose
// store is known to be able to lead, or else to any voter.
func (l *RaftLeaser) handOn() {
	ctx, cancel := context.WithTimeout(context.Background(), l.AcquireTimeout)
	defer cancel()
	last := l.node.lease().HolderID
	l.Logger.Warn("raft leader without the litefs lease, handing leadership on",
		"for", l.AcquireTimeout, "last-holder", last)
	if last != "" && last != l.self.ID {
		err := l.node.TransferLeadership(ctx, last)
		if err == nil {
			return
		}
		l.Logger.Warn("hand leadership to last holder", "node", last, "err", err)
	}
	if err := l.node.TransferLeadership(ctx, ""); err != nil {
		l.Logger.Warn("hand leadership on", "err", err)
	}
}

package fsmount

import (
	"github.com/hashicorp/raft"
)

// watch follows raft's state and leader changes. The observer blocks raft
// rather than drop an observation (a dropped step-down would leave a lease
// that looks held); the buffer and a goroutine that does nothing slow keep
// raft from ever waiting on it in practice.
func (n *RaftNode) watch() {
	ch := make(chan raft.Observation, 64)
	n.observer = raft.NewObserver(ch, true, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.RaftState, raft.LeaderObservation:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(n.observer)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			select {
			case o := <-ch:
				n.observe(o)
			case <-n.done:
				return
			}
		}
	}()
}

// observe handles one observation: a step-down loses every lease held
// through this node, and any change wakes WaitLeader.
func (n *RaftNode) observe(o raft.Observation) {
	if state, ok := o.Data.(raft.RaftState); ok {
		n.logger.Info("raft state changed", "state", state.String())
		if state != raft.Leader {
			n.loseLeases()
		}
	}
	n.watchMu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.watchMu.Unlock()
}

// changes returns a channel closed at the next state or leader change.
func (n *RaftNode) changes() <-chan struct{} {
	n.watchMu.Lock()
	defer n.watchMu.Unlock()
	return n.changed
}

// holdLease registers l to be lost as soon as this node stops leading.
func (n *RaftNode) holdLease(l *RaftLease) {
	n.watchMu.Lock()
	defer n.watchMu.Unlock()
	n.leases[l] = struct{}{}
}

// dropLease forgets l.
func (n *RaftNode) dropLease(l *RaftLease) {
	n.watchMu.Lock()
	defer n.watchMu.Unlock()
	delete(n.leases, l)
}

// loseLeases marks every lease held through this node as lost.
func (n *RaftNode) loseLeases() {
	n.watchMu.Lock()
	leases := n.leases
	n.leases = map[*RaftLease]struct{}{}
	n.watchMu.Unlock()
	for l := range leases {
		l.lose("raft leadership lost")
	}
}

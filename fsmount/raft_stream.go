package fsmount

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/superfly/litefs"
	"github.com/superfly/ltx"
)

// RaftStreamClient wraps the store's litefs.Client so that a replica's
// stream from the primary ends as soon as raft names a leader other than
// that primary (or this node leads).
//
// LiteFS reads the stream until it fails and only then asks the leaser
// for the primary again. When the old primary's process stops, its TCP
// connections close and streams end at once. When its host dies or the
// network splits, nothing reaches the replicas: they would wait on a dead
// connection until TCP gives up (minutes), and the new raft leader, itself
// a replica of the old primary, would never acquire the lease. Install it
// between Mount.Listen and Mount.Open:
//
//	m.Store.Client = fsmount.NewRaftStreamClient(m.Store.Client, node)
type RaftStreamClient struct {
	litefs.Client
	node *RaftNode
}

// NewRaftStreamClient wraps c.
func NewRaftStreamClient(c litefs.Client, node *RaftNode) *RaftStreamClient {
	return &RaftStreamClient{Client: c, node: node}
}

// Stream opens a stream from primaryURL that is cut when raft's leader
// changes away from the node registered with that LiteFS URL.
func (c *RaftStreamClient) Stream(ctx context.Context, primaryURL string, nodeID uint64, posMap map[string]ltx.Pos, filter []string) (litefs.Stream, error) {
	primaryID := c.nodeWithLiteFSURL(primaryURL)
	if primaryID == "" {
		c.node.logger.Warn("litefs primary not in the raft registry, stream not watched", "url", primaryURL)
		return c.Client.Stream(ctx, primaryURL, nodeID, posMap, filter)
	}
	// Watch from before connecting: a dead host can hang the connect too.
	ctx, cancel := context.WithCancel(ctx)
	var connected atomic.Bool
	go c.cutOnLeaderChange(ctx, cancel, primaryID, &connected)
	st, err := c.Client.Stream(ctx, primaryURL, nodeID, posMap, filter)
	if err != nil {
		cancel()
		return nil, err
	}
	connected.Store(true)
	return &raftStream{Stream: st, cancel: cancel}, nil
}

// cutOnLeaderChange cancels the stream once a known leader is not
// primaryID. While no leader is known (an election) the stream stays.
// When this node itself becomes leader while still connecting, the
// connect goes on: its reply carries the cluster ID, without which the
// store refuses to become primary; the old primary then ends the stream
// when its lease fails.
func (c *RaftStreamClient) cutOnLeaderChange(ctx context.Context, cancel context.CancelFunc, primaryID string, connected *atomic.Bool) {
	for {
		changed := c.node.changes()
		leader := c.node.LeaderID()
		if leader != "" && leader != primaryID && (leader != c.node.id || connected.Load()) {
			c.node.logger.Info("raft leader changed, dropping litefs stream", "primary", primaryID, "leader", leader)
			cancel()
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// nodeWithLiteFSURL is the ID of the registered node with that LiteFS
// URL, "" if none.
func (c *RaftStreamClient) nodeWithLiteFSURL(u string) string {
	for _, info := range c.node.Nodes() {
		if info.LiteFSURL == u {
			return info.ID
		}
	}
	return ""
}

// raftStream stops watching raft when the store closes the stream.
type raftStream struct {
	litefs.Stream
	cancel    context.CancelFunc
	closeOnce sync.Once
}

func (s *raftStream) Close() error {
	err := s.Stream.Close()
	s.closeOnce.Do(s.cancel)
	return err
}

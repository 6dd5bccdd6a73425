package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/fsmount"
)

// openRaft wires raft election into LiteFS: the raft leader holds the
// LiteFS lease; replicas' streams are cut as soon as raft names another
// leader. Call between mount.Listen and mount.Open, after serveAPI.
func (n *Node) openRaft() error {
	c := &n.opts
	advertise, err := raftAdvertise(c.RaftAddr, c.RaftAdvertise)
	if err != nil {
		return err
	}
	var trans *raft.NetworkTransport
	if n.tls != nil {
		// Only peers with a node certificate of the cluster CA get a byte
		// to raft: no forged AppendEntries, no votes from outside.
		trans, err = fsmount.NewTLSTransport(c.RaftAddr, advertise, n.tls.Server(), n.tls.Client(), 3, 10*time.Second)
	} else {
		trans, err = raft.NewTCPTransport(c.RaftAddr, advertise, 3, 10*time.Second, io.Discard)
	}
	if err != nil {
		return fmt.Errorf("tablecast.raft-addr: %w", err)
	}
	n.raft, err = fsmount.OpenRaft(fsmount.RaftConfig{
		ID: c.Name, Dir: filepath.Join(c.DataDir, "raft"), Transport: trans,
		Voter: c.Candidate, Bootstrap: c.Join == "" && c.Candidate, Logger: n.logger,
	})
	if err != nil {
		return err
	}
	n.self = fsmount.NodeInfo{ID: c.Name, Region: c.Region, Role: fsmount.RoleReplica,
		APIURL: n.apiURL, NodeURL: n.nodeURL, LiteFSURL: n.mount.URL(), RaftAddr: string(trans.LocalAddr())}
	if c.LeaseAdvertiseURL != "" {
		// LiteFS advertises the address it binds (":20202" → localhost).
		n.self.LiteFSURL = c.LeaseAdvertiseURL
	}
	if c.Candidate {
		n.self.Role = fsmount.RoleCandidate
	}
	n.leaser = fsmount.NewRaftLeaser(n.raft, n.self)
	// Never lead behind a synced write; no commit in flight at lease loss.
	n.leaser.Local, n.leaser.PeerCovers = n.mount, n.peerCovers
	n.leaser.Drain = func() { n.fence.LockCommit(); n.fence.UnlockCommit() }
	// A replica that stopped streaming for a full disk is behind: it must
	// not become primary (Mount.StreamPaused).
	n.leaser.Unfit = n.mount.StreamPaused
	if err := n.leaser.Open(); err != nil {
		return err
	}
	n.mount.Leaser = n.leaser
	n.mount.Store.Client = fsmount.NewRaftStreamClient(n.mount.Store.Client, n.raft)
	return nil
}

// raftAdvertise is the address other nodes reach this node's raft at.
func raftAdvertise(bind, advertise string) (net.Addr, error) {
	if advertise == "" {
		host, _, err := net.SplitHostPort(bind)
		if err != nil {
			return nil, fmt.Errorf("tablecast.raft-addr: %w", err)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			return nil, errors.New("tablecast.raft-advertise: required when raft-addr listens on every interface")
		}
		return nil, nil // the transport advertises its bound address
	}
	addr, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, fmt.Errorf("tablecast.raft-advertise: %w", err)
	}
	return addr, nil
}

// joinLoop keeps this node registered with the cluster: it joins through
// the leader (or the configured join URL) as a non-voter, and asks to be
// promoted to voter once its LiteFS store has caught up, if a candidate.
func (n *Node) joinLoop(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := n.joinOnce(ctx); err != nil {
			n.logger.Debug("join", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// joinOnce registers this node and its raft membership if either is out
// of date; it does nothing when both are right.
func (n *Node) joinOnce(ctx context.Context) error {
	wantVoter := n.opts.Candidate && n.Ready()
	got, registered := n.raft.Node(n.self.ID)
	member, voter := n.membership()
	if registered && got == n.self && member && (voter || !wantVoter) {
		return nil
	}
	req := JoinRequest{Node: n.self, Voter: wantVoter}
	if n.raft.IsLeader() {
		return n.applyJoin(ctx, req)
	}
	target := n.leaderNodeURL()
	if target == "" {
		target = n.opts.Join
	}
	if target == "" {
		return errors.New("no leader known and no join URL")
	}
	return n.client.Join(ctx, target, req)
}

// membership reports whether raft counts this node in, and as a voter.
func (n *Node) membership() (member, voter bool) {
	servers, err := n.raft.Servers()
	if err != nil {
		return false, false
	}
	for _, s := range servers {
		if string(s.ID) == n.self.ID {
			return true, s.Suffrage == raft.Voter
		}
	}
	return false, false
}

// leaderNodeURL is the raft leader's node API URL from the registry.
func (n *Node) leaderNodeURL() string {
	if id := n.raft.LeaderID(); id != "" {
		if info, ok := n.raft.Node(id); ok {
			return strings.TrimSuffix(info.NodeURL, "/")
		}
	}
	return ""
}

// applyJoin adds or updates a node; leader only.
func (n *Node) applyJoin(ctx context.Context, req JoinRequest) error {
	if req.Node.ID == "" || req.Node.RaftAddr == "" {
		return tablecast.Errorf(tablecast.EINVALID, "join: node id and raft-addr are required")
	}
	if req.Voter && req.Node.Role != fsmount.RoleCandidate {
		return tablecast.Errorf(tablecast.EINVALID, "join: %s is not a candidate: it cannot vote", req.Node.ID)
	}
	if err := n.raft.AddNode(ctx, req.Node.ID, req.Node.RaftAddr, req.Voter); err != nil {
		return err
	}
	return n.raft.Register(ctx, req.Node)
}

package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/fsmount"
)

// handleWait answers once this node has applied a TXID, with the TXID it
// has then: GET /-/wait?db=NAME&txid=HEX&timeout=5s. The benchmarks' lag
// watcher uses it.
//
// With &checksum=HEX it confirms a position instead (synchronous writes,
// and a raft leader looking for a candidate to hand over to): 200 once
// this node's history passes through (txid, checksum), that is, it is at
// that position or past it with that checksum recorded at txid (see
// fsmount.Mount.Covers); 409 at once when it is at or past txid on
// another history; 504 when still behind at the timeout. A TXID alone
// proves nothing after a failover: two histories reach the same TXID.
func (n *Node) handleWait(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	txid, err := tablecast.ParseTXID(q.Get("txid"))
	if err != nil {
		tablecast.WriteError(w, r, n.logger, err)
		return
	}
	timeout, err := time.ParseDuration(q.Get("timeout"))
	if err != nil || timeout <= 0 || timeout > time.Minute {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	db := q.Get("db")
	if q.Has("checksum") {
		sum, err := tablecast.ParseChecksum(q.Get("checksum"))
		if err != nil {
			tablecast.WriteError(w, r, n.logger, err)
			return
		}
		n.waitPos(ctx, w, r, db, tablecast.Pos{TXID: txid, Checksum: sum}, timeout)
		return
	}
	if err := n.mount.WaitTXID(ctx, db, txid); err != nil {
		have, _ := n.mount.TXID(db)
		tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.ETIMEOUT, "TXID %s not applied after %s (have %s)", txid, timeout, have))
		return
	}
	have, _ := n.mount.TXID(db)
	tablecast.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "node": n.self.ID, "txid": have.String()})
}

// waitPos is handleWait for a position.
func (n *Node) waitPos(ctx context.Context, w http.ResponseWriter, r *http.Request, db string, want tablecast.Pos, timeout time.Duration) {
	err := n.mount.WaitCovers(ctx, db, want)
	have, _ := n.mount.Pos(db)
	switch {
	case err == nil:
		tablecast.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "node": n.self.ID, "txid": have.TXID.String(), "pos": have.String()})
	case errors.Is(err, fsmount.ErrOtherHistory):
		tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.ECONFLICT, "Position %s is not on this node's history: %v", want, err))
	default:
		tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.ETIMEOUT, "Position %s not reached after %s (have %s)", want, timeout, have))
	}
}

// syncToCandidate is the synchronous-write acknowledgement of a write
// committed at pos of db, in three steps:
//
//  1. this node still holds the lease and its own history still passes
//     through pos (a node that lost the lease and was moved to another
//     history must not confirm what it rolled back);
//  2. another candidate confirms it has pos on its history
//     (/-/wait?checksum=…: TXID and checksum, not the TXID alone);
//  3. pos is recorded in raft under this node's lease (fails if the lease
//     is no longer in force); from then on no candidate lacking pos can
//     take the lease (fsmount.RaftLeaser.Acquire).
//
// Any failure leaves the write committed here but unconfirmed (503).
func (n *Node) syncToCandidate(ctx context.Context, db string, pos tablecast.Pos) error {
	lease := n.leaser.Current()
	if lease == nil {
		return errors.New("this node is no longer the primary")
	}
	if ok, reason := n.mount.Covers(db, pos); !ok {
		return fmt.Errorf("no longer on this node's history (%s)", reason)
	}
	peers := n.confirmers()
	if len(peers) == 0 {
		return errors.New("no other candidate in the cluster")
	}
	// The other confirmations are cancelled once one arrives, and waited for.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	errs := make(chan error, len(peers))
	for _, p := range peers {
		wg.Go(func() { errs <- n.client.ConfirmPos(ctx, p, db, pos, 5*time.Second) })
	}
	var last error
	confirmed := false
	for range peers {
		if last = <-errs; last == nil {
			confirmed = true
			break
		}
	}
	if !confirmed {
		return last
	}
	confirmedIn := time.Since(start)
	if err := n.raft.RecordSynced(ctx, lease.ID(), db, pos); err != nil {
		return err
	}
	n.logger.Debug("synced", "db", db, "pos", pos, "confirm", confirmedIn, "record", time.Since(start)-confirmedIn)
	return nil
}

// confirmers are the API URLs of the nodes that may confirm a position:
// the other candidates that are raft voters, the nodes that can become
// primary (a candidate still catching up is a non-voter).
func (n *Node) confirmers() []string {
	servers, err := n.raft.Servers()
	if err != nil {
		return nil
	}
	var peers []string
	for _, s := range servers {
		info, ok := n.raft.Node(string(s.ID))
		if ok && s.Suffrage == raft.Voter && info.ID != n.self.ID && info.Role == fsmount.RoleCandidate && info.NodeURL != "" {
			peers = append(peers, info.NodeURL)
		}
	}
	return peers
}

// syncedRefresh is how often the primary records its current positions
// as synced (syncLoop). It must stay well under LiteFS's LTX retention
// (10 min): a candidate proves it has a position past its own from the
// LTX file of that position's TXID.
const syncedRefresh = 30 * time.Second

// syncLoop keeps the synced positions in raft recent while this node is
// the primary: every syncedRefresh, each database whose position moved
// since the last record is confirmed by another candidate and recorded,
// as a synchronous write would be. Without it, after asynchronous writes
// only, the recorded position could age past LTX retention on every
// candidate, and then no candidate could show it has it: no primary.
// It also narrows what asynchronous writes can lose to the writes since
// the last record.
func (n *Node) syncLoop(ctx context.Context) {
	tick := time.NewTicker(syncedRefresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n.leaser.Current() == nil || len(n.confirmers()) == 0 {
			continue // not the primary, or alone: nobody to confirm
		}
		recorded := n.raft.Synced()
		for _, db := range n.mount.Databases() {
			pos, ok := n.mount.Pos(db)
			if !ok || pos.TXID == 0 || recorded[db] == pos {
				continue
			}
			if err := n.syncToCandidate(ctx, db, pos); err != nil {
				n.logger.Warn("record synced position", "db", db, "pos", pos, "err", err)
			}
		}
	}
}

// peerCovers asks a candidate whether its history passes through every
// one of positions right now (fsmount.RaftLeaser.PeerCovers).
func (n *Node) peerCovers(ctx context.Context, peer fsmount.NodeInfo, positions map[string]tablecast.Pos) (bool, error) {
	if peer.NodeURL == "" {
		return false, errors.New("no node URL registered")
	}
	for db, pos := range positions {
		if err := n.client.ConfirmPos(ctx, peer.NodeURL, db, pos, 50*time.Millisecond); err != nil {
			return false, err
		}
	}
	return true, nil
}

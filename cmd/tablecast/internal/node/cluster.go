package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/fsmount"
	"github.com/tablecast/tablecast/nodetls"
	"github.com/tablecast/tablecast/primary"
	"github.com/tablecast/tablecast/routing"
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

// clusterHandler serves the operator's /-/cluster routes and /-/wait.
// All need a token: they show or change what visitors must not see.
func (n *Node) clusterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /-/cluster.json", n.authed(n.handleClusterStatus))
	mux.HandleFunc("POST /-/cluster/join", n.authed(n.fromNode(n.leaderOnly(n.handleJoin))))
	mux.HandleFunc("POST /-/cluster/remove", n.authed(n.leaderOnly(n.handleRemove)))
	mux.HandleFunc("POST /-/cluster/handoff", n.authed(n.leaderOnly(n.handleHandoff)))
	mux.HandleFunc("POST /-/cluster/forget-synced", n.authed(n.leaderOnly(n.handleForgetSynced)))
	mux.HandleFunc("GET /-/wait", n.authed(n.handleWait))
}

func (n *Node) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, err := n.tokens.Authorize(r, primary.ScopeAdmin); err != nil {
			if tablecast.ErrorCode(err) == tablecast.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", "Bearer")
			}
			tablecast.WriteError(w, r, n.logger, err)
			return
		}
		h(w, r)
	}
}

// leaderOnly runs h on the raft leader: other nodes forward the request.
func (n *Node) leaderOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if n.raft == nil {
			tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EINVALID, "This cluster uses a static lease: nothing to change"))
			return
		}
		if n.raft.IsLeader() {
			h(w, r)
			return
		}
		leader := n.leaderNodeURL()
		if leader == "" || r.Header.Get("Tablecast-Forwarded-By") != "" {
			w.Header().Set("Retry-After", "1")
			tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EUNAVAILABLE, "No raft leader known: try again shortly"))
			return
		}
		u, err := url.Parse(leader)
		if err != nil {
			tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EUNAVAILABLE, "No raft leader known: try again shortly"))
			return
		}
		n.proxy.Serve(w, r, u, n.leaderFailed) // the leader's node API, mutual TLS
	}
}

// leaderFailed answers a cluster change the raft leader did not answer.
func (n *Node) leaderFailed(w http.ResponseWriter, r *http.Request, err error) {
	n.logger.Warn("proxy to the raft leader failed", "path", r.URL.Path, "err", err)
	tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EUNKNOWN, "The raft leader did not answer: the change may or may not have been made"))
}

// fromNode lets through only requests from a node of the cluster: with
// TLS, a join must arrive on the node port with a verified node
// certificate naming the node that joins (or forwarded there by a node,
// which checked it). A leaked cluster token alone cannot register a node.
func (n *Node) fromNode(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if n.tls == nil {
			h(w, r)
			return
		}
		peer := peerNode(r)
		if peer == "" {
			tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EFORBIDDEN, "Nodes join on the node port (tablecast.node-addr), with their certificate"))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EINVALID, "Read body: %v", err))
			return
		}
		var req JoinRequest
		_ = json.Unmarshal(body, &req)
		if r.Header.Get(routing.HeaderForwarded) == "" && req.Node.ID != peer && peer != nodetls.AnyNode {
			n.logger.Warn("join refused: certificate names another node", "cert", peer, "node", req.Node.ID)
			tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EFORBIDDEN, "Node %q cannot join with the certificate of %q", req.Node.ID, peer))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return tablecast.Errorf(tablecast.EINVALID, "Invalid JSON: %v", err)
	}
	return nil
}

func (n *Node) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if err := decodeBody(r, &req); err != nil {
		tablecast.WriteError(w, r, n.logger, err)
		return
	}
	if err := n.applyJoin(r.Context(), req); err != nil {
		tablecast.WriteError(w, r, n.logger, err)
		return
	}
	n.logger.Info("node joined", "node", req.Node.ID, "region", req.Node.Region, "voter", req.Voter)
	tablecast.WriteJSON(w, http.StatusOK, map[string]any{"ok": true})
}

type nodeRequest struct {
	Node string `json:"node"`
}

func (n *Node) handleRemove(w http.ResponseWriter, r *http.Request) {
	var req nodeRequest
	if err := decodeBody(r, &req); err != nil || req.Node == "" {
		tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EINVALID, `Body must be {"node":"NAME"}`))
		return
	}
	if req.Node == n.self.ID {
		tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EINVALID, "%s is the primary: hand off first (tablecast primary handoff)", req.Node))
		return
	}
	if _, ok := n.raft.Node(req.Node); !ok {
		tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.ENOTFOUND, "No node named %s", req.Node))
		return
	}
	if err := n.raft.RemoveNode(r.Context(), req.Node); err != nil {
		tablecast.WriteError(w, r, n.logger, err)
		return
	}
	tablecast.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "removed": req.Node})
}

func (n *Node) handleHandoff(w http.ResponseWriter, r *http.Request) {
	var req nodeRequest
	if err := decodeBody(r, &req); err != nil {
		tablecast.WriteError(w, r, n.logger, err)
		return
	}
	if err := n.raft.TransferLeadership(r.Context(), req.Node); err != nil {
		tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EUNAVAILABLE, "Handoff failed: %v", err))
		return
	}
	leader, _ := n.raft.WaitLeader(r.Context())
	tablecast.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "from": n.self.ID, "to": leader})
}

// handleForgetSynced drops recorded synced positions: POST
// /-/cluster/forget-synced {"db":"NAME"} (no db: all). Without a node that
// has them no primary is elected; this lets one that lacks them lead, and
// loses the writes it lacks.
func (n *Node) handleForgetSynced(w http.ResponseWriter, r *http.Request) {
	var req struct {
		DB string `json:"db"`
	}
	if err := decodeBody(r, &req); err != nil {
		tablecast.WriteError(w, r, n.logger, err)
		return
	}
	before := n.raft.Synced()
	if err := n.raft.ForgetSynced(r.Context(), req.DB); err != nil {
		tablecast.WriteError(w, r, n.logger, tablecast.Errorf(tablecast.EUNAVAILABLE, "Forget failed: %v", err))
		return
	}
	forgot := map[string]string{}
	for db, p := range before {
		if req.DB == "" || req.DB == db {
			forgot[db] = p.String()
		}
	}
	tablecast.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "forgot": forgot})
}

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

// handleClusterStatus answers /-/cluster.json: every registered node, its
// raft membership, and what it says of itself (role, TXIDs, lag).
func (n *Node) handleClusterStatus(w http.ResponseWriter, r *http.Request) {
	tablecast.WriteJSON(w, http.StatusOK, n.clusterStatus(r.Context()))
}

// clusterStatus is the body of /-/cluster.json.
func (n *Node) clusterStatus(ctx context.Context) tablecast.ClusterStatus {
	if n.raft == nil {
		return tablecast.ClusterStatus{OK: true, Lease: "static", Nodes: []tablecast.ClusterNode{n.staticRow()}}
	}
	suffrage := map[string]string{}
	if servers, err := n.raft.Servers(); err == nil {
		for _, s := range servers {
			suffrage[string(s.ID)] = map[bool]string{true: "voter", false: "nonvoter"}[s.Suffrage == raft.Voter]
		}
	}
	nodes := n.raft.Nodes()
	out := make([]tablecast.ClusterNode, len(nodes))
	var wg sync.WaitGroup
	for i, info := range nodes {
		wg.Go(func() { out[i] = n.nodeStatus(ctx, info, suffrage[info.ID]) })
	}
	wg.Wait()
	synced := map[string]string{}
	for db, p := range n.raft.Synced() {
		synced[db] = p.String()
	}
	return tablecast.ClusterStatus{OK: true, Lease: "raft", Leader: n.raft.LeaderID(), Nodes: out, Synced: synced}
}

// staticRow is this node in /-/cluster.json with a static lease, which
// knows no other node.
func (n *Node) staticRow() tablecast.ClusterNode {
	st := n.status(true)
	kind := fsmount.RoleReplica
	if n.opts.Candidate {
		kind = fsmount.RoleCandidate
	}
	return tablecast.ClusterNode{Name: n.opts.Name, Region: n.opts.Region, Kind: kind, Raft: "static",
		APIURL: n.apiURL, NodeURL: n.nodeURL, LiteFSURL: n.mount.URL(), Reachable: true, Reported: st.Report()}
}

// nodeStatus asks a node for its /-/status.json, within a second.
func (n *Node) nodeStatus(ctx context.Context, info fsmount.NodeInfo, suffrage string) tablecast.ClusterNode {
	row := tablecast.ClusterNode{Name: info.ID, Region: info.Region, Kind: info.Role, Raft: suffrage,
		APIURL: info.APIURL, NodeURL: info.NodeURL, LiteFSURL: info.LiteFSURL}
	if suffrage == "" {
		row.Raft = "removed"
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := n.client.Status(ctx, info.NodeURL)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	row.Reachable, row.Reported = true, st.Report()
	return row
}

package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/fsmount"
	"github.com/tablecast/tablecast/nodetls"
	"github.com/tablecast/tablecast/primary"
	"github.com/tablecast/tablecast/routing"
)

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

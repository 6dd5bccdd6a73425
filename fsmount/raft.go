package fsmount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/tablecast/tablecast"
)

// Raft timings, tuned for fast failover between nodes on a LAN (RTT well
// under 1 ms).
//
//   - HeartbeatTimeout 500ms: a follower starts an election only after 500ms
//     (randomised up to 1s) without hearing from the leader, who sends
//     heartbeats every HeartbeatTimeout/10 = 50ms: ten lost heartbeats, so a
//     GC pause or a short hiccup does not cause a failover.
//   - ElectionTimeout 500ms: how long a candidate waits for votes before a
//     new round; elections on a LAN finish in a few RTTs.
//   - LeaderLeaseTimeout 250ms: a leader that has not heard from a quorum
//     for 250ms steps down. It must be below HeartbeatTimeout (raft refuses
//     otherwise); the gap (250ms) is the head start the old leader gets to
//     drop its LiteFS lease before any follower can even start an election.
//
// Across regions (RTT 50-200ms) double all three.
const (
	DefaultRaftHeartbeatTimeout   = 500 * time.Millisecond
	DefaultRaftElectionTimeout    = 500 * time.Millisecond
	DefaultRaftLeaderLeaseTimeout = 250 * time.Millisecond
)

// raftApplyTimeout bounds the wait to enqueue an entry or a membership
// change when the caller's context has no deadline.
const raftApplyTimeout = 5 * time.Second

// ErrNotLeader is returned by operations only the raft leader can do.
var ErrNotLeader = errors.New("not the raft leader")

// RaftConfig configures a RaftNode.
type RaftConfig struct {
	ID        string         // raft server ID (the node name)
	Dir       string         // raft-wal log + stable store and file snapshots; "" = in memory (tests)
	Transport raft.Transport // raft.NewTCPTransport in production, raft.NewInmemTransport in tests
	Voter     bool           // candidates are voters; replicas are non-voters and never lead
	Bootstrap bool           // bootstrap a one-node cluster of this node if there is no raft state

	// Zero means the Default* values above.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration

	// Logger receives raft's own logs at warn level and above.
	Logger *slog.Logger
}

// RaftNode is one member of the raft cluster, with the small replicated
// state machine the leaser and the router read: the lease, the cluster ID
// and the registry of nodes.
type RaftNode struct {
	id     string
	raft   *raft.Raft
	wal    *raftwal.WAL       // nil with in-memory stores
	meta   *metadb.BoltMetaDB // the WAL's metadata; closed again after the WAL (idempotent; v0.4.0 left it open)
	logger *slog.Logger
	verify time.Duration // bound for one VerifyLeader round

	mu    sync.RWMutex // guards state
	state raftState

	watchMu sync.Mutex
	changed chan struct{}           // closed and replaced at every state or leader change
	leases  map[*RaftLease]struct{} // lost as soon as this node stops leading

	observer  *raft.Observer
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// OpenRaft opens the stores in cfg.Dir, bootstraps a one-node cluster when
// asked to and there is no raft state yet, and starts raft.
func OpenRaft(cfg RaftConfig) (*RaftNode, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	n := &RaftNode{
		id:      cfg.ID,
		logger:  cfg.Logger.With("raft-id", cfg.ID),
		verify:  2 * cfg.LeaderLeaseTimeout,
		changed: make(chan struct{}),
		leases:  map[*RaftLease]struct{}{},
		done:    make(chan struct{}),
	}
	conf := cfg.raftConfig()
	logs, stable, snaps, err := n.openStores(cfg, conf)
	if err != nil {
		return nil, err
	}
	if err := bootstrapRaft(cfg, conf, logs, stable, snaps); err != nil {
		n.closeStores()
		return nil, err
	}
	if n.raft, err = raft.NewRaft(conf, &raftFSM{node: n}, logs, stable, snaps, cfg.Transport); err != nil {
		n.closeStores()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.watch()
	return n, nil
}

func (cfg *RaftConfig) validate() error {
	switch {
	case cfg.ID == "":
		return fmt.Errorf("raft: no node id")
	case cfg.Transport == nil:
		return fmt.Errorf("raft: no transport")
	case cfg.Bootstrap && !cfg.Voter:
		return fmt.Errorf("raft: only a voter can bootstrap a cluster")
	}
	return nil
}

func (cfg *RaftConfig) setDefaults() {
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = DefaultRaftHeartbeatTimeout
	}
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = DefaultRaftElectionTimeout
	}
	if cfg.LeaderLeaseTimeout == 0 {
		cfg.LeaderLeaseTimeout = DefaultRaftLeaderLeaseTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
}

func (cfg *RaftConfig) raftConfig() *raft.Config {
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(cfg.ID)
	conf.HeartbeatTimeout = cfg.HeartbeatTimeout
	conf.ElectionTimeout = cfg.ElectionTimeout
	conf.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	conf.Logger = newRaftLogger(cfg.Logger.With("raft-id", cfg.ID))
	return conf
}

// openStores opens raft-wal (log + stable store) and file snapshots in
// cfg.Dir, or in-memory stores when cfg.Dir is "".
func (n *RaftNode) openStores(cfg RaftConfig, conf *raft.Config) (raft.LogStore, raft.StableStore, raft.SnapshotStore, error) {
	if cfg.Dir == "" {
		mem := raft.NewInmemStore()
		return mem, mem, raft.NewInmemSnapshotStore(), nil
	}
	walDir := filepath.Join(cfg.Dir, "wal")
	if err := os.MkdirAll(walDir, 0o755); err != nil {
		return nil, nil, nil, fmt.Errorf("create raft dir: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, conf.Logger)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open raft snapshots: %w", err)
	}
	n.meta = &metadb.BoltMetaDB{}
	if n.wal, err = raftwal.Open(walDir, raftwal.WithMetaStore(n.meta)); err != nil {
		_ = n.meta.Close()
		return nil, nil, nil, fmt.Errorf("open raft wal: %w", err)
	}
	return n.wal, n.wal, snaps, nil
}

// bootstrap makes this node the only voter of a new cluster, unless it
// was not asked to or it already has raft state.
func bootstrapRaft(cfg RaftConfig, conf *raft.Config, logs raft.LogStore, stable raft.StableStore, snaps raft.SnapshotStore) error {
	if !cfg.Bootstrap {
		return nil
	}
	if ok, err := raft.HasExistingState(logs, stable, snaps); err != nil {
		return fmt.Errorf("read raft state: %w", err)
	} else if ok {
		return nil
	}
	servers := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter,
		ID:       conf.LocalID,
		Address:  cfg.Transport.LocalAddr(),
	}}}
	if err := raft.BootstrapCluster(conf, logs, stable, snaps, cfg.Transport, servers); err != nil {
		return fmt.Errorf("bootstrap raft: %w", err)
	}
	return nil
}

// Close shuts raft down (it closes the transport too) and closes the stores.
// Leases held through this node are lost.
func (n *RaftNode) Close() error {
	n.closeOnce.Do(func() {
		n.closeErr = n.raft.Shutdown().Error()
		n.raft.DeregisterObserver(n.observer)
		close(n.done)
		n.wg.Wait()
		n.loseLeases()
		if err := n.closeStores(); err != nil && n.closeErr == nil {
			n.closeErr = err
		}
	})
	return n.closeErr
}

func (n *RaftNode) closeStores() error {
	if n.wal == nil {
		return nil
	}
	if err := n.wal.Close(); err != nil {
		return fmt.Errorf("close raft wal: %w", err)
	}
	if err := n.meta.Close(); err != nil {
		return fmt.Errorf("close raft wal meta: %w", err)
	}
	return nil
}

// ID is this node's raft server ID.
func (n *RaftNode) ID() string { return n.id }

// IsLeader reports whether this node is the raft leader right now.
func (n *RaftNode) IsLeader() bool { return n.raft.State() == raft.Leader }

// LeaderID is the ID of the raft leader as this node knows it, "" when unknown.
func (n *RaftNode) LeaderID() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// WaitLeader waits until some leader is known and returns its ID.
func (n *RaftNode) WaitLeader(ctx context.Context) (string, error) {
	for {
		changed := n.changes()
		if id := n.LeaderID(); id != "" {
			return id, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", fmt.Errorf("wait for raft leader: %w", context.Cause(ctx))
		}
	}
}

// AddNode adds a voter or a non-voter to the cluster. Leader only.
func (n *RaftNode) AddNode(ctx context.Context, id, raftAddr string, voter bool) error {
	if !n.IsLeader() {
		return fmt.Errorf("add node %s: %w", id, ErrNotLeader)
	}
	sid, addr, timeout := raft.ServerID(id), raft.ServerAddress(raftAddr), raftTimeout(ctx)
	var f raft.IndexFuture
	if voter {
		f = n.raft.AddVoter(sid, addr, 0, timeout)
	} else {
		f = n.raft.AddNonvoter(sid, addr, 0, timeout)
	}
	if err := waitRaft(ctx, f); err != nil {
		return fmt.Errorf("add node %s: %w", id, err)
	}
	n.logger.Info("raft node added", "node", id, "addr", raftAddr, "voter", voter)
	return nil
}

// RemoveNode removes a node from the registry and from the cluster.
// Leader only; removing the leader itself makes it step down.
func (n *RaftNode) RemoveNode(ctx context.Context, id string) error {
	if _, err := n.apply(ctx, raftCommand{Op: opRemoveNode, ID: id}); err != nil {
		return fmt.Errorf("remove node %s: %w", id, err)
	}
	f := n.raft.RemoveServer(raft.ServerID(id), 0, raftTimeout(ctx))
	if err := waitRaft(ctx, f); err != nil {
		return fmt.Errorf("remove node %s: %w", id, err)
	}
	n.logger.Info("raft node removed", "node", id)
	return nil
}

// TransferLeadership hands raft leadership to voter id ("" = any voter).
// Leader only. This node's LiteFS lease is lost first (Lost closes, the
// next Renew fails), so that it stops taking writes before the target can
// win its election; the target's store then acquires. If the transfer
// fails, this node stays leader and its store acquires again.
func (n *RaftNode) TransferLeadership(ctx context.Context, id string) error {
	if !n.IsLeader() {
		return fmt.Errorf("transfer leadership: %w", ErrNotLeader)
	}
	f, err := n.transferFuture(id)
	if err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	if err := waitRaft(ctx, f); err != nil {
		return fmt.Errorf("transfer leadership to %q: %w", id, err)
	}
	return nil
}

func (n *RaftNode) transferFuture(id string) (raft.Future, error) {
	if id == "" {
		n.loseLeases()
		return n.raft.LeadershipTransfer(), nil
	}
	servers, err := n.Servers()
	if err != nil {
		return nil, err
	}
	for _, s := range servers {
		if string(s.ID) == id && s.Suffrage == raft.Voter {
			n.loseLeases()
			return n.raft.LeadershipTransferToServer(s.ID, s.Address), nil
		}
	}
	return nil, fmt.Errorf("no voter %q in the raft configuration", id)
}

// Register adds or replaces info in the registry. Leader only.
func (n *RaftNode) Register(ctx context.Context, info NodeInfo) error {
	if info.ID == "" {
		return fmt.Errorf("register node: no id")
	}
	if _, err := n.apply(ctx, raftCommand{Op: opRegisterNode, Node: &info}); err != nil {
		return fmt.Errorf("register node %s: %w", info.ID, err)
	}
	return nil
}

// Nodes is the registry as this node's state machine has it, sorted by ID.
func (n *RaftNode) Nodes() []NodeInfo {
	n.mu.RLock()
	defer n.mu.RUnlock()
	nodes := make([]NodeInfo, 0, len(n.state.Nodes))
	for _, info := range n.state.Nodes {
		nodes = append(nodes, info)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	return nodes
}

// Node is one entry of the registry.
func (n *RaftNode) Node(id string) (NodeInfo, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	info, ok := n.state.Nodes[id]
	return info, ok
}

// Servers is the raft configuration: every member with its suffrage.
func (n *RaftNode) Servers() ([]raft.Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("get raft configuration: %w", err)
	}
	return f.Configuration().Servers, nil
}

// Stats is raft's own view of itself: state, term, last_contact, indexes.
func (n *RaftNode) Stats() map[string]string { return n.raft.Stats() }

// clusterID and lease read the state machine.
func (n *RaftNode) clusterID() string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.state.ClusterID
}

func (n *RaftNode) lease() raftLeaseState {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.state.Lease
}

// apply commits cmd through raft and returns the state machine's result.
// Leader only.
func (n *RaftNode) apply(ctx context.Context, cmd raftCommand) (any, error) {
	if !n.IsLeader() {
		return nil, ErrNotLeader
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("encode command: %w", err)
	}
	f := n.raft.Apply(b, raftTimeout(ctx))
	if err := waitRaft(ctx, f); err != nil {
		return nil, err
	}
	if err, ok := f.Response().(error); ok {
		return nil, err
	}
	return f.Response(), nil
}

// verifyLeader checks, with one heartbeat round bounded by ctx and
// n.verify, that this node is still the leader of a quorum.
func (n *RaftNode) verifyLeader(ctx context.Context) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	ctx, cancel := context.WithTimeout(ctx, n.verify)
	defer cancel()
	return waitRaft(ctx, n.raft.VerifyLeader())
}

// waitRaft waits for f or ctx. Raft's "not leader" errors become
// ErrNotLeader.
func waitRaft(ctx context.Context, f raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// raftTimeout is what raft gets as its enqueue timeout: the context's
// deadline, or raftApplyTimeout.
func raftTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return raftApplyTimeout
}

// RecordSynced records in the state machine that a synchronous write of
// db, at pos, was confirmed by another candidate, under lease leaseID
// (the lease this node holds). Leader only; it fails, and records
// nothing, when leaseID is no longer the lease in force.
func (n *RaftNode) RecordSynced(ctx context.Context, leaseID, db string, pos tablecast.Pos) error {
	p := syncedPos(pos)
	if _, err := n.apply(ctx, raftCommand{Op: opRecordSynced, LeaseID: leaseID, DB: db, Pos: &p}); err != nil {
		return fmt.Errorf("record synced %s at %s: %w", db, pos, err)
	}
	return nil
}

// ForgetSynced drops the synced position of db ("" = every database), so
// that a candidate lacking it may take the lease. The operator's way out
// when every node that had it is gone for good: the writes after the
// position the next primary has are lost. Leader only.
func (n *RaftNode) ForgetSynced(ctx context.Context, db string) error {
	if _, err := n.apply(ctx, raftCommand{Op: opForgetSynced, DB: db}); err != nil {
		return fmt.Errorf("forget synced positions: %w", err)
	}
	n.logger.Warn("synced positions forgotten by the operator", "db", db)
	return nil
}

// Synced is, per database, the latest position recorded by RecordSynced,
// as this node's state machine has it.
func (n *RaftNode) Synced() map[string]tablecast.Pos {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make(map[string]tablecast.Pos, len(n.state.Synced))
	for db, sp := range n.state.Synced {
		if p, err := sp.Pos(); err == nil {
			out[db] = p
		}
	}
	return out
}

// barrier waits until every entry committed before it is applied to this
// node's state machine. Leader only.
func (n *RaftNode) barrier(ctx context.Context) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	return waitRaft(ctx, n.raft.Barrier(raftTimeout(ctx)))
}

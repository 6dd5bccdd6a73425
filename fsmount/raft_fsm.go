package fsmount

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
	"github.com/tablecast/tablecast"
)

// Commands of the replicated state machine.
const (
	opAcquireLease = "acquire-lease"
	opReleaseLease = "release-lease"
	opSetClusterID = "set-cluster-id"
	opRegisterNode = "register-node"
	opRemoveNode   = "remove-node"
	opRecordSynced = "record-synced"
	opForgetSynced = "forget-synced"
)

// Node roles in the registry.
const (
	RoleCandidate = "candidate"
	RoleReplica   = "replica"
)

// NodeInfo is one node of the registry: where to reach it and what it is.
type NodeInfo struct {
	ID        string `json:"id"`
	Region    string `json:"region,omitempty"`
	Role      string `json:"role,omitempty"` // RoleCandidate or RoleReplica
	APIURL    string `json:"api-url,omitempty"`
	NodeURL   string `json:"node-url,omitempty"` // the node API (mutual TLS): where peers send node-to-node calls
	LiteFSURL string `json:"litefs-url,omitempty"`
	RaftAddr  string `json:"raft-addr,omitempty"`
}

// raftLeaseState is the LiteFS primary lease as the state machine holds it.
// Term is the raft term of the entry that granted it.
type raftLeaseState struct {
	HolderID string `json:"holder-id,omitempty"`
	LeaseID  string `json:"lease-id,omitempty"`
	Term     uint64 `json:"term,omitempty"`
}

// raftState is everything the state machine replicates; it is also the
// JSON snapshot format.
type raftState struct {
	Lease     raftLeaseState      `json:"lease"`
	ClusterID string              `json:"cluster-id,omitempty"`
	Nodes     map[string]NodeInfo `json:"nodes,omitempty"`
	// Synced is, per database, the latest position a synchronous write
	// was confirmed at by another candidate: no node whose LiteFS history
	// does not pass through it may take the lease (see RaftLeaser.Acquire).
	Synced map[string]SyncedPos `json:"synced,omitempty"`
}

// SyncedPos is a database position in the state machine (hex strings, as
// LiteFS writes them).
type SyncedPos struct {
	TXID     string `json:"txid"`
	Checksum string `json:"checksum"`
}

func syncedPos(p tablecast.Pos) SyncedPos {
	return SyncedPos{TXID: p.TXID.String(), Checksum: fmt.Sprintf("%016x", p.Checksum)}
}

// Pos parses the position.
func (s SyncedPos) Pos() (tablecast.Pos, error) {
	txid, err := tablecast.ParseTXID(s.TXID)
	if err != nil {
		return tablecast.Pos{}, err
	}
	sum, err := tablecast.ParseChecksum(s.Checksum)
	if err != nil {
		return tablecast.Pos{}, err
	}
	return tablecast.Pos{TXID: txid, Checksum: sum}, nil
}

// raftCommand is one JSON-encoded raft log entry.
type raftCommand struct {
	Op        string     `json:"op"`
	Node      *NodeInfo  `json:"node,omitempty"`     // register-node; acquire-lease (the holder)
	ID        string     `json:"id,omitempty"`       // remove-node
	LeaseID   string     `json:"lease-id,omitempty"` // acquire-lease, release-lease
	ClusterID string     `json:"cluster-id,omitempty"`
	DB        string     `json:"db,omitempty"`  // record-synced
	Pos       *SyncedPos `json:"pos,omitempty"` // record-synced
}

// raftFSM is the raft.FSM; it forwards to the node, which owns the state.
type raftFSM struct{ node *RaftNode }

func (f *raftFSM) Apply(l *raft.Log) any               { return f.node.fsmApply(l) }
func (f *raftFSM) Snapshot() (raft.FSMSnapshot, error) { return f.node.fsmSnapshot() }
func (f *raftFSM) Restore(rc io.ReadCloser) error      { return f.node.fsmRestore(rc) }

// upsert adds or replaces a node of the registry.
func (s *raftState) upsert(info NodeInfo) {
	if s.Nodes == nil {
		s.Nodes = map[string]NodeInfo{}
	}
	s.Nodes[info.ID] = info
}

// fsmApply applies one committed entry. It returns the command's result:
// the new raftLeaseState for acquire-lease, the cluster ID in force for
// set-cluster-id, or an error for a malformed entry.
func (n *RaftNode) fsmApply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	var cmd raftCommand
	if err := json.Unmarshal(l.Data, &cmd); err != nil {
		return fmt.Errorf("decode command: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state.apply(cmd, l.Term)
}

// apply changes the state by one command, raft term term.
func (s *raftState) apply(cmd raftCommand, term uint64) any {
	switch cmd.Op {
	case opAcquireLease:
		if cmd.Node == nil || cmd.Node.ID == "" {
			return fmt.Errorf("acquire lease: no holder")
		}
		// Only a candidate may be named primary: not a node that says it is
		// a replica, nor one the registry knows as a replica (a replica's
		// role changes only by registering again, which its join does).
		if cmd.Node.Role != RoleCandidate {
			return fmt.Errorf("acquire lease: %s is not a candidate", cmd.Node.ID)
		}
		if known, ok := s.Nodes[cmd.Node.ID]; ok && known.Role != RoleCandidate {
			return fmt.Errorf("acquire lease: %s is registered as a %s", cmd.Node.ID, known.Role)
		}
		s.upsert(*cmd.Node)
		s.Lease = raftLeaseState{HolderID: cmd.Node.ID, LeaseID: cmd.LeaseID, Term: term}
		return s.Lease
	case opReleaseLease:
		// Only the lease it names: a late release must not free a newer lease.
		if s.Lease.LeaseID == cmd.LeaseID {
			s.Lease = raftLeaseState{}
		}
		return nil
	case opSetClusterID:
		if s.ClusterID == "" {
			s.ClusterID = cmd.ClusterID
		}
		return s.ClusterID
	case opRegisterNode:
		if cmd.Node == nil || cmd.Node.ID == "" {
			return fmt.Errorf("register node: no id")
		}
		s.upsert(*cmd.Node)
		return nil
	case opRemoveNode:
		delete(s.Nodes, cmd.ID)
		return nil
	case opRecordSynced:
		return s.recordSynced(cmd)
	case opForgetSynced: // the operator's way out when every holder is gone for good
		if cmd.DB == "" {
			s.Synced = nil
		} else {
			delete(s.Synced, cmd.DB)
		}
		return nil
	default:
		return fmt.Errorf("unknown command %q", cmd.Op)
	}
}

// recordSynced keeps the latest synced position of a database. Only the
// lease in force may record: its holder's history is one line for as long
// as it holds the lease, so what it confirmed is on the history the next
// primary must carry on. A lower TXID than the one recorded (a slower
// confirmation of the same lease) changes nothing.
func (s *raftState) recordSynced(cmd raftCommand) any {
	if cmd.Pos == nil || cmd.DB == "" {
		return fmt.Errorf("record synced: no database or position")
	}
	if cmd.LeaseID == "" || cmd.LeaseID != s.Lease.LeaseID {
		return fmt.Errorf("record synced: lease %q is not the lease in force: %w", cmd.LeaseID, ErrNotLeader)
	}
	pos, err := cmd.Pos.Pos()
	if err != nil {
		return fmt.Errorf("record synced: %w", err)
	}
	if old, ok := s.Synced[cmd.DB]; ok {
		if prev, err := old.Pos(); err == nil && prev.TXID >= pos.TXID {
			return nil
		}
	}
	if s.Synced == nil {
		s.Synced = map[string]SyncedPos{}
	}
	s.Synced[cmd.DB] = *cmd.Pos
	return nil
}

// fsmSnapshot captures the state as JSON; Persist may then run concurrently
// with further applies.
func (n *RaftNode) fsmSnapshot() (raft.FSMSnapshot, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	b, err := json.Marshal(&n.state)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	return &raftSnapshot{data: b}, nil
}

// fsmRestore replaces the state with a snapshot.
func (n *RaftNode) fsmRestore(rc io.ReadCloser) error {
	defer rc.Close()
	var st raftState
	if err := json.NewDecoder(rc).Decode(&st); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.state = st
	return nil
}

// raftSnapshot is a point-in-time copy of the state.
type raftSnapshot struct{ data []byte }

func (s *raftSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *raftSnapshot) Release() {}

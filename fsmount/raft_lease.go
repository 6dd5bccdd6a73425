package fsmount

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/superfly/litefs"
)

// DefaultRaftLeaseTTL is the LiteFS lease TTL: the store renews every
// TTL/2, so a primary that lost raft leadership notices within TTL/2.
// Lost() tells the write path at once.
const DefaultRaftLeaseTTL = 1 * time.Second

// DefaultRaftAcquireTimeout is how long the raft leader may go without
// the LiteFS lease before it hands raft leadership on (see Open).
const DefaultRaftAcquireTimeout = 5 * time.Second

// raftReleaseTimeout bounds the release of a lease on Close.
const raftReleaseTimeout = time.Second

// errNoRaftLeader is returned by Acquire while no raft leader is known: the
// store logs it and retries after its ReconnectDelay.
var errNoRaftLeader = fmt.Errorf("no raft leader yet: %w", litefs.ErrNoPrimary)

var (
	_ litefs.Leaser = (*RaftLeaser)(nil)
	_ litefs.Lease  = (*RaftLease)(nil)
)

// RaftLeaser is a litefs.Leaser on top of a RaftNode: the raft leader, and
// only it, holds the LiteFS primary lease.
//
// Safety rests on raft's leader lease. A leader that has not heard from a
// quorum for LeaderLeaseTimeout steps down (Lost closes at once, Renew
// fails from then on). A follower can start an election only after
// HeartbeatTimeout (randomised up to twice that) without hearing from the
// leader, and a vote is refused while the voter still hears from a leader.
// As LeaderLeaseTimeout < HeartbeatTimeout, and the leader's last contact
// with a follower is no earlier than that follower's last contact with the
// leader, the old leader steps down at least HeartbeatTimeout -
// LeaderLeaseTimeout (minus one network delay) before a new leader can
// exist elsewhere. Renew also checks VerifyLeader (a heartbeat round to a
// quorum) and that the state machine still names this lease.
type RaftLeaser struct {
	node *RaftNode
	self NodeInfo

	// TTL is the lease TTL given to the store (see DefaultRaftLeaseTTL).
	TTL time.Duration

	// AcquireTimeout is how long the raft leader may go without the lease
	// before it hands raft leadership to another voter (see Open).
	AcquireTimeout time.Duration

	Logger *slog.Logger

	mu      sync.Mutex
	current *RaftLease

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewRaftLeaser returns a leaser for node. self describes this node;
// self.LiteFSURL is the replication URL advertised to replicas.
func NewRaftLeaser(node *RaftNode, self NodeInfo) *RaftLeaser {
	if self.ID == "" {
		self.ID = node.ID()
	}
	return &RaftLeaser{
		node:           node,
		self:           self,
		TTL:            DefaultRaftLeaseTTL,
		AcquireTimeout: DefaultRaftAcquireTimeout,
		Logger:         node.logger,
	}
}

// Open starts the acquire watchdog (unless AcquireTimeout is 0). Only the
// raft leader can hold the lease, so a leader whose store does not take it
// would leave the cluster without a primary for good. That happens: LiteFS
// refuses to become primary while it has no local cluster ID (it never
// streamed from a primary), and a demoted store waits DemoteDelay. The
// watchdog then hands raft leadership to the last holder, or any voter.
func (l *RaftLeaser) Open() error {
	if l.AcquireTimeout <= 0 || l.stop != nil {
		return nil
	}
	l.stop = make(chan struct{})
	l.wg.Add(1)
	go func() { defer l.wg.Done(); l.watchAcquire() }()
	return nil
}

// Close stops the watchdog; the RaftNode belongs to the caller.
func (l *RaftLeaser) Close() error {
	if l.stop != nil {
		close(l.stop)
		l.wg.Wait()
		l.stop = nil
	}
	return nil
}

// Type returns "raft".
func (l *RaftLeaser) Type() string { return "raft" }

// Hostname is this node's ID.
func (l *RaftLeaser) Hostname() string { return l.self.ID }

// AdvertiseURL is this node's LiteFS replication URL.
func (l *RaftLeaser) AdvertiseURL() string { return l.self.LiteFSURL }

// Acquire takes the lease if this node is the raft leader: committing the
// acquire entry proves leadership in the current term. Otherwise it
// returns litefs.ErrPrimaryExists when another leader is known (the store
// then reads PrimaryInfo), or a retryable error while none is.
func (l *RaftLeaser) Acquire(ctx context.Context) (litefs.Lease, error) {
	if !l.node.IsLeader() {
		if id := l.node.LeaderID(); id != "" && id != l.self.ID {
			return nil, litefs.ErrPrimaryExists
		}
		return nil, errNoRaftLeader
	}
	lease := &RaftLease{leaser: l, id: newRaftLeaseID(), lost: make(chan struct{})}
	l.node.holdLease(lease)
	if err := lease.acquire(ctx); err != nil {
		lease.lose(err.Error())
		return nil, err
	}
	l.mu.Lock()
	l.current = lease
	l.mu.Unlock()
	l.Logger.Info("litefs lease acquired", "lease", lease.id, "term", lease.term)
	return lease, nil
}

// Current is the lease this node holds, nil when it holds none. The write
// path accepts a write only while Current's Lost channel is open.
func (l *RaftLeaser) Current() *RaftLease {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.current == nil || l.current.isLost() {
		return nil
	}
	return l.current
}

// AcquireExisting is not supported: handoff is RaftNode.TransferLeadership.
func (l *RaftLeaser) AcquireExisting(ctx context.Context, leaseID string) (litefs.Lease, error) {
	return nil, fmt.Errorf("raft lease handoff not supported, transfer raft leadership instead")
}

// PrimaryInfo names the raft leader once it holds the lease. It returns
// litefs.ErrNoPrimary when this node is the leader (the store then calls
// Acquire), when no leader is known, or when the leader has not acquired
// the lease yet.
func (l *RaftLeaser) PrimaryInfo(ctx context.Context) (litefs.PrimaryInfo, error) {
	holder, ok := l.holder()
	if !ok || holder.ID == l.self.ID || holder.LiteFSURL == "" {
		return litefs.PrimaryInfo{}, litefs.ErrNoPrimary
	}
	return litefs.PrimaryInfo{Hostname: holder.ID, AdvertiseURL: holder.LiteFSURL}, nil
}

// PrimaryAPIURL is the API URL of the lease holder, "" when unknown; the
// router sends writes there.
func (l *RaftLeaser) PrimaryAPIURL() string {
	holder, _ := l.holder()
	return holder.APIURL
}

// PrimaryNodeURL is the node API URL of the lease holder, "" when
// unknown: forwarded writes and admin requests go there.
func (l *RaftLeaser) PrimaryNodeURL() string {
	holder, _ := l.holder()
	return holder.NodeURL
}

// holder is the registry entry of the known raft leader if it acquired the
// lease in the current term (a lease from an earlier term, restored from
// the log after a restart, names no one).
func (l *RaftLeaser) holder() (NodeInfo, bool) {
	leader := l.node.LeaderID()
	st := l.node.lease()
	if leader == "" || st.HolderID != leader || st.Term != l.node.raft.CurrentTerm() {
		return NodeInfo{}, false
	}
	return l.node.Node(leader)
}

// ClusterID is the cluster ID in the state machine, "" before it is set.
func (l *RaftLeaser) ClusterID(ctx context.Context) (string, error) {
	return l.node.clusterID(), nil
}

// SetClusterID sets the cluster ID if none is set yet. Leader only; it
// fails if a different ID is already set.
func (l *RaftLeaser) SetClusterID(ctx context.Context, clusterID string) error {
	res, err := l.node.apply(ctx, raftCommand{Op: opSetClusterID, ClusterID: clusterID})
	if err != nil {
		return fmt.Errorf("apply set cluster id: %w", err)
	}
	if got, _ := res.(string); got != clusterID {
		return fmt.Errorf("cluster id already set to %q", got)
	}
	return nil
}

// RaftLease is a lease held by the raft leader during one term.
// Lost tells the write path when to stop.
type RaftLease struct {
	leaser *RaftLeaser
	id     string
	term   uint64

	mu        sync.Mutex
	renewedAt time.Time

	lost     chan struct{}
	lostOnce sync.Once
}

// acquire commits the acquire entry and checks that leadership held.
func (l *RaftLease) acquire(ctx context.Context) error {
	node, self := l.leaser.node, l.leaser.self
	res, err := node.apply(ctx, raftCommand{Op: opAcquireLease, Node: &self, LeaseID: l.id})
	if err != nil {
		return fmt.Errorf("apply acquire: %w", err)
	}
	st, _ := res.(raftLeaseState)
	l.term, l.renewedAt = st.Term, time.Now()
	if err := l.check(); err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	return nil
}

// ID is the lease ID recorded in the state machine.
func (l *RaftLease) ID() string { return l.id }

// RenewedAt is the time of the last successful Renew (or Acquire).
func (l *RaftLease) RenewedAt() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.renewedAt
}

// TTL is the leaser's TTL.
func (l *RaftLease) TTL() time.Duration { return l.leaser.TTL }

// Lost is closed as soon as this node stops being the raft leader, a
// Renew fails, or the lease is closed: the write path stops at once.
func (l *RaftLease) Lost() <-chan struct{} { return l.lost }

// Renew checks that this node still leads a quorum in the lease's term and
// that the state machine still names this lease. Any failure is
// litefs.ErrLeaseExpired: the store only treats that error as final, and
// would otherwise keep the lease for another second.
func (l *RaftLease) Renew(ctx context.Context) error {
	err := l.check()
	if err == nil {
		err = l.leaser.node.verifyLeader(ctx)
	}
	if err != nil {
		l.lose(err.Error())
		return litefs.ErrLeaseExpired
	}
	l.mu.Lock()
	l.renewedAt = time.Now()
	l.mu.Unlock()
	return nil
}

// check is the local part of Renew: not lost, same term, still the holder.
func (l *RaftLease) check() error {
	node := l.leaser.node
	if l.isLost() {
		return errors.New("lease lost")
	}
	if !node.IsLeader() {
		return ErrNotLeader
	}
	if term := node.raft.CurrentTerm(); term != l.term {
		return fmt.Errorf("raft term changed from %d to %d", l.term, term)
	}
	if st := node.lease(); st.HolderID != l.leaser.self.ID || st.LeaseID != l.id {
		return fmt.Errorf("lease now held by %q", st.HolderID)
	}
	return nil
}

// Handoff is not supported: use RaftNode.TransferLeadership.
func (l *RaftLease) Handoff(ctx context.Context, nodeID uint64) error {
	return fmt.Errorf("raft lease handoff not supported, transfer raft leadership instead")
}

// HandoffCh returns nil: handoffs never arrive.
func (l *RaftLease) HandoffCh() <-chan uint64 { return nil }

// Close marks the lease lost and, if this node still leads, releases it
// in the state machine so replicas stop naming this node.
func (l *RaftLease) Close() error {
	l.lose("lease closed")
	if !l.leaser.node.IsLeader() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), raftReleaseTimeout)
	defer cancel()
	if _, err := l.leaser.node.apply(ctx, raftCommand{Op: opReleaseLease, LeaseID: l.id}); err != nil {
		return fmt.Errorf("apply release: %w", err)
	}
	return nil
}

func (l *RaftLease) isLost() bool {
	select {
	case <-l.lost:
		return true
	default:
		return false
	}
}

// lose closes Lost once, and forgets the lease on the node.
func (l *RaftLease) lose(reason string) {
	l.lostOnce.Do(func() {
		close(l.lost)
		l.leaser.node.dropLease(l)
		l.leaser.Logger.Warn("litefs lease lost", "lease", l.id, "reason", reason)
	})
}

func newRaftLeaseID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

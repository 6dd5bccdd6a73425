package fsmount

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/superfly/litefs"
	"github.com/tablecast/tablecast"
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

	// Local, when set, tells whether this node's LiteFS history passes
	// through a position (Mount.Covers). Acquire refuses the lease while
	// it lacks one of the synced positions recorded in raft.
	Local Coverer

	// Unfit, when set, says why this node must not take the lease now,
	// "" when it may: a replica whose disk is full stopped streaming
	// (Mount.StreamPaused), so its history is behind by every write since.
	// Acquire then hands raft leadership on, as for a missing synced
	// position, and fails until Unfit says "".
	Unfit func() string

	// PeerCovers, when set, asks another candidate whether its history
	// passes through every one of positions (over the node API). A leader
	// that lacks a synced position hands raft leadership to one that says
	// yes.
	PeerCovers func(ctx context.Context, peer NodeInfo, positions map[string]tablecast.Pos) (bool, error)

	// Drain, when set, is called when a Renew fails, after Lost is closed
	// and before the store hears of it: it must return once no commit that
	// began before Lost closed is still in flight. LiteFS exits the
	// process (status 99) when a node loses write access between SQLite's
	// WAL write and the release of its write lock; the write path checks
	// Lost under a fence it holds across COMMIT, and Drain takes that
	// fence once.
	Drain func()

	mu      sync.Mutex
	current *RaftLease
	handing atomic.Bool // a hand-on to a covering candidate is under way

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
//
// A leader whose LiteFS history lacks a synced position recorded in raft
// (see RaftNode.RecordSynced) never takes the lease: it would roll back
// writes acknowledged as synced on every node that streams from it. It
// hands raft leadership to a candidate that has them (see handOnSynced)
// and returns an error, so that the store tries again after its
// ReconnectDelay; with no such candidate reachable it keeps waiting.
func (l *RaftLeaser) Acquire(ctx context.Context) (litefs.Lease, error) {
	if !l.node.IsLeader() {
		if id := l.node.LeaderID(); id != "" && id != l.self.ID {
			return nil, litefs.ErrPrimaryExists
		}
		return nil, errNoRaftLeader
	}
	// Every synced position committed before this term must be in the
	// state machine before it is compared.
	if err := l.node.barrier(ctx); err != nil {
		return nil, fmt.Errorf("raft barrier before acquire: %w", err)
	}
	if l.Unfit != nil {
		if why := l.Unfit(); why != "" {
			l.handOnSynced("raft leader unfit to be primary: looking for a candidate with every synced position", []string{why})
			return nil, fmt.Errorf("%w: %s", ErrUnfit, why)
		}
	}
	if missing := l.lacking(); len(missing) > 0 {
		l.handOnSynced("raft leader lacks synced positions: looking for a candidate that has them", missing)
		return nil, fmt.Errorf("%w: %s", ErrLacksSynced, strings.Join(missing, "; "))
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

// ErrUnfit: Unfit named a reason this node must not become primary now.
var ErrUnfit = errors.New("unfit to be primary now, not taking the lease")

// ErrLacksSynced: this node's LiteFS history lacks a position a
// synchronous write was confirmed at, so it must not become primary.
var ErrLacksSynced = errors.New("lacks a synced position, not taking the lease")

// Coverer tells whether this node's history of a database passes through
// a position (fsmount.Mount implements it).
type Coverer interface {
	Covers(db string, want tablecast.Pos) (bool, string)
}

// lacking lists, as "db: reason", the synced positions this node's store
// does not cover.
func (l *RaftLeaser) lacking() []string {
	if l.Local == nil {
		return nil
	}
	var missing []string
	for db, pos := range l.node.Synced() {
		if ok, reason := l.Local.Covers(db, pos); !ok {
			missing = append(missing, fmt.Sprintf("%s needs %s, %s", db, pos, reason))
		}
	}
	sort.Strings(missing)
	return missing
}

// handOnSynced (logging msg) looks, in the background, for a voter whose
// history has every synced position and hands raft leadership to it. One
// search at a time; the store's next Acquire starts another if this one
// found none.
func (l *RaftLeaser) handOnSynced(msg string, missing []string) {
	if l.PeerCovers == nil || !l.handing.CompareAndSwap(false, true) {
		return
	}
	l.Logger.Warn(msg, "missing", missing)
	go func() {
		defer l.handing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ask := func(info NodeInfo, want map[string]tablecast.Pos) (bool, error) {
			ctx, cancel := context.WithTimeout(ctx, time.Second) // a frozen node must not stall the search
			defer cancel()
			return l.PeerCovers(ctx, info, want)
		}
		want := l.node.Synced()
		servers, err := l.node.Servers()
		if err != nil {
			l.Logger.Warn("hand on to a synced candidate", "err", err)
			return
		}
		for _, s := range servers {
			info, ok := l.node.Node(string(s.ID))
			if s.Suffrage != raft.Voter || !ok || info.ID == l.self.ID {
				continue
			}
			covers, err := ask(info, want)
			if err != nil || !covers {
				l.Logger.Info("candidate lacks synced positions too", "node", info.ID, "err", err)
				continue
			}
			if err := l.node.TransferLeadership(ctx, info.ID); err != nil {
				l.Logger.Warn("hand leadership to a synced candidate", "node", info.ID, "err", err)
				continue
			}
			l.Logger.Info("raft leadership handed to a candidate with every synced position", "node", info.ID)
			return
		}
		l.Logger.Warn("no reachable candidate has every synced position: no primary until one does")
	}()
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
		if l.leaser.Drain != nil {
			l.leaser.Drain() // no commit in flight when the store lets go
		}
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

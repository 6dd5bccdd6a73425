package fsmount

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/superfly/litefs"
	"github.com/tablecast/tablecast"
)

func TestRaftState_RecordSynced(t *testing.T) {
	var s raftState
	holder := NodeInfo{ID: "n1", Role: RoleCandidate}
	s.apply(raftCommand{Op: opAcquireLease, Node: &holder, LeaseID: "a"}, 3)
	rec := func(lease string, txid tablecast.TXID, sum uint64) any {
		p := syncedPos(tablecast.Pos{TXID: txid, Checksum: sum})
		return s.apply(raftCommand{Op: opRecordSynced, LeaseID: lease, DB: "db", Pos: &p}, 3)
	}
	if err, _ := rec("old", 5, 0x55).(error); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a lease no longer in force recorded: %v", err)
	}
	if len(s.Synced) != 0 {
		t.Fatalf("synced=%v after a refused record", s.Synced)
	}
	if err := rec("a", 5, 0x55); err != nil {
		t.Fatal(err)
	}
	if err := rec("a", 4, 0x44); err != nil { // a slower confirmation
		t.Fatal(err)
	}
	if got, want := s.Synced["db"], syncedPos(tablecast.Pos{TXID: 5, Checksum: 0x55}); got != want {
		t.Fatalf("synced=%v, want %v kept", got, want)
	}
	if err := rec("a", 6, 0x66); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Synced["db"], syncedPos(tablecast.Pos{TXID: 6, Checksum: 0x66}); got != want {
		t.Fatalf("synced=%v, want %v", got, want)
	}

	// Snapshots carry it.
	n := &RaftNode{state: s}
	snap, err := n.fsmSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := &RaftNode{}
	if err := restored.fsmRestore(io.NopCloser(bytes.NewReader(snap.(*raftSnapshot).data))); err != nil {
		t.Fatal(err)
	}
	if got := restored.Synced()["db"]; got != (tablecast.Pos{TXID: 6, Checksum: 0x66}) {
		t.Fatalf("restored synced=%v", got)
	}
}

// fakeCoverage says, per node, whether its history has every position.
type fakeCoverage struct {
	mu     sync.Mutex
	covers map[string]bool
	asked  map[string]int
}

func (f *fakeCoverage) set(id string, v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.covers[id] = v
}

func (f *fakeCoverage) local(id string) Coverer { return fakeLocal{f, id} }

type fakeLocal struct {
	f  *fakeCoverage
	id string
}

func (l fakeLocal) Covers(db string, want tablecast.Pos) (bool, string) {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	if l.f.covers[l.id] {
		return true, ""
	}
	return false, "behind (fake)"
}

func (f *fakeCoverage) peer(ctx context.Context, peer NodeInfo, positions map[string]tablecast.Pos) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked[peer.ID]++
	return f.covers[peer.ID], nil
}

// A raft leader whose history lacks a recorded synced position never
// takes the lease: it hands raft leadership to the candidate that has it.
func TestRaftLeaser_AcquireNeedsSyncedPositions(t *testing.T) {
	c := newTestRaftCluster(t, 3, 0, false)
	cov := &fakeCoverage{covers: map[string]bool{}, asked: map[string]int{}}
	for _, tn := range c.nodes {
		tn.leaser.Local, tn.leaser.PeerCovers = cov.local(tn.info.ID), cov.peer
		cov.set(tn.info.ID, true)
	}
	ctx := testContext(t, raftTestApply)
	first := c.waitAgreedLeader()
	for _, tn := range c.nodes { // the API URLs it asks come from the registry
		if err := first.node.Register(ctx, tn.info); err != nil {
			t.Fatal(err)
		}
	}
	lease := c.mustAcquire(first)
	pos := tablecast.Pos{TXID: 7, Checksum: 0x77}
	if err := first.node.RecordSynced(ctx, lease.ID(), "db", pos); err != nil {
		t.Fatal(err)
	}
	if err := first.node.RecordSynced(ctx, "not-this-lease", "db", tablecast.Pos{TXID: 9}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("record under another lease: %v", err)
	}

	// The first primary fails; the two others: one lacks the position.
	var lacking, having *testRaftNode
	for _, tn := range c.nodes {
		switch {
		case tn == first:
		case lacking == nil:
			lacking = tn
		default:
			having = tn
		}
	}
	cov.set(first.info.ID, false) // out of the running too
	cov.set(lacking.info.ID, false)
	if err := first.node.TransferLeadership(ctx, lacking.info.ID); err != nil {
		t.Fatal(err)
	}
	if got := c.waitAgreedLeader(); got != lacking {
		t.Fatalf("leader %s, want %s", got.info.ID, lacking.info.ID)
	}
	if _, err := lacking.leaser.Acquire(ctx); !errors.Is(err, ErrLacksSynced) {
		t.Fatalf("acquire by a node lacking a synced position: %v", err)
	}
	waitFor(t, raftTestElection, func() bool { return having.node.IsLeader() })
	if got := c.mustAcquire(having); got == nil {
		t.Fatal("no lease")
	}
	if got := lacking.node.Synced()["db"]; got != pos {
		t.Fatalf("synced on %s: %v, want %v", lacking.info.ID, got, pos)
	}

	t.Run("no candidate has it: nobody takes the lease", func(t *testing.T) {
		for _, tn := range c.nodes {
			cov.set(tn.info.ID, false)
		}
		if err := having.node.TransferLeadership(ctx, first.info.ID); err != nil {
			t.Fatal(err)
		}
		leader := c.waitAgreedLeader()
		for range 3 {
			if _, err := leader.leaser.Acquire(ctx); !errors.Is(err, ErrLacksSynced) {
				t.Fatalf("acquire by %s: %v", leader.info.ID, err)
			}
			waitFor(t, raftTestElection, func() bool { return !leader.leaser.handing.Load() })
		}
		if l := c.waitAgreedLeader(); l != leader {
			t.Fatalf("leadership moved to %s, which lacks the position too", l.info.ID)
		}
		// The operator's way out: forget, and the leader takes the lease.
		if err := leader.node.ForgetSynced(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if got := c.mustAcquire(leader); got == nil {
			t.Fatal("no lease after forget-synced")
		}
		for _, tn := range c.nodes {
			waitFor(t, raftTestApply, func() bool { return len(tn.node.Synced()) == 0 })
		}
	})
}

// Renew that fails marks the lease lost, then drains commits in flight,
// and only then tells the store (which stops being writable).
func TestRaftLease_RenewDrainsBeforeLoss(t *testing.T) {
	c := newTestRaftCluster(t, 3, 0, false)
	leader := c.waitAgreedLeader()
	lease := c.mustAcquire(leader)
	release := make(chan struct{})
	drained := make(chan bool, 1)
	leader.leaser.Drain = func() {
		select {
		case <-lease.Lost():
			drained <- true
		default:
			drained <- false
		}
		<-release
	}
	c.partition(leader)
	renewed := make(chan error, 1)
	go func() {
		// Renew until it fails (the leader steps down within
		// LeaderLeaseTimeout of losing its quorum).
		for {
			if err := lease.Renew(context.Background()); err != nil {
				renewed <- err
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	select {
	case lostFirst := <-drained:
		if !lostFirst {
			t.Fatal("Drain called before Lost closed: a commit could start after it")
		}
	case <-time.After(raftTestElection):
		t.Fatal("Renew never failed")
	}
	select {
	case err := <-renewed:
		t.Fatalf("Renew returned %v before the drain finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-renewed; !errors.Is(err, litefs.ErrLeaseExpired) {
		t.Fatalf("Renew: %v, want ErrLeaseExpired", err)
	}
	c.heal()
}

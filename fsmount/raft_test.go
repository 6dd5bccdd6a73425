package fsmount

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/superfly/litefs"
)

// Deadlines for polling; generous because -race slows everything down.
const (
	raftTestElection = 10 * time.Second
	raftTestApply    = 5 * time.Second
)

// testRaftNode is one member of a test cluster on the in-memory transport.
type testRaftNode struct {
	info   NodeInfo
	voter  bool
	dir    string
	trans  *raft.InmemTransport
	node   *RaftNode
	leaser *RaftLeaser
}

// testRaftCluster is a set of nodes wired together in one process.
type testRaftCluster struct {
	t     *testing.T
	nodes []*testRaftNode
}

// newTestRaftCluster starts voters n1..nV and non-voters r1..rN. The first
// voter bootstraps; it adds the others. With files, every node keeps its
// raft state in its own t.TempDir().
func newTestRaftCluster(t *testing.T, voters, nonvoters int, files bool) *testRaftCluster {
	t.Helper()
	c := &testRaftCluster{t: t}
	for i := range voters + nonvoters {
		id, role := fmt.Sprintf("n%d", i+1), RoleCandidate
		if i >= voters {
			id, role = fmt.Sprintf("r%d", i-voters+1), RoleReplica
		}
		tn := &testRaftNode{voter: i < voters, info: NodeInfo{
			ID: id, Region: "test", Role: role, RaftAddr: id,
			APIURL: "http://" + id + ":8080", LiteFSURL: "http://" + id + ":20202",
		}}
		if files {
			tn.dir = t.TempDir()
		}
		c.nodes = append(c.nodes, tn)
	}
	t.Cleanup(c.close)
	c.open(true)
	ctx := testContext(t, raftTestElection)
	first := c.nodes[0]
	if _, err := first.node.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tn := range c.nodes[1:] {
		// Membership changes go to the leader of the moment: with n1 and n2
		// voters, a leader that hears nothing from n2 for the lease timeout
		// (250 ms: a starved CPU) steps down, and the next one adds n3.
		for {
			var leader *testRaftNode
			waitFor(t, raftTestElection, func() bool { leader = c.leader(); return leader != nil })
			err := leader.node.AddNode(ctx, tn.info.ID, tn.info.RaftAddr, tn.voter)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrNotLeader) {
				t.Fatal(err)
			}
			t.Logf("%s lost leadership while adding %s: %v", leader.info.ID, tn.info.ID, err)
		}
	}
	c.waitAgreedLeader()
	return c
}

// open creates fresh transports, connects them all and opens every node;
// bootstrap makes the first node bootstrap (ignored when it has state).
func (c *testRaftCluster) open(bootstrap bool) {
	c.t.Helper()
	for _, tn := range c.nodes {
		_, tn.trans = raft.NewInmemTransport(raft.ServerAddress(tn.info.RaftAddr))
	}
	c.heal()
	for i, tn := range c.nodes {
		node, err := OpenRaft(RaftConfig{
			ID: tn.info.ID, Dir: tn.dir, Transport: tn.trans, Voter: tn.voter,
			Bootstrap: bootstrap && i == 0, Logger: testLogger(c.t),
		})
		if err != nil {
			c.t.Fatal(err)
		}
		tn.node, tn.leaser = node, NewRaftLeaser(node, tn.info)
	}
}

// close closes every open node.
func (c *testRaftCluster) close() {
	for _, tn := range c.nodes {
		if tn.node != nil {
			if err := tn.node.Close(); err != nil {
				c.t.Errorf("close %s: %v", tn.info.ID, err)
			}
			tn.node = nil
		}
	}
}

// heal connects every transport to every other, both ways.
func (c *testRaftCluster) heal() {
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a != b {
				a.trans.Connect(b.trans.LocalAddr(), b.trans)
			}
		}
	}
}

// partition cuts tn off from every other node, both ways.
func (c *testRaftCluster) partition(tn *testRaftNode) {
	tn.trans.DisconnectAll()
	for _, other := range c.nodes {
		if other != tn {
			other.trans.Disconnect(tn.trans.LocalAddr())
		}
	}
}

// leader is the one node that is leader, nil if none; it fails the test
// if a non-voter leads or two nodes lead.
func (c *testRaftCluster) leader() *testRaftNode {
	c.t.Helper()
	var found *testRaftNode
	for _, tn := range c.nodes {
		if tn.node == nil || !tn.node.IsLeader() {
			continue
		}
		if !tn.voter {
			c.t.Fatalf("non-voter %s became leader", tn.info.ID)
		}
		if found != nil {
			c.t.Logf("two leaders at once: %s and %s", found.info.ID, tn.info.ID)
			return nil // possible for an instant: the old one has not seen the new term
		}
		found = tn
	}
	return found
}

// waitAgreedLeader waits until one node leads and all the others name it.
// The nodes in except (removed or closed) are neither asked nor accepted
// as the answer: a leader that removed itself keeps leading, and the
// others keep naming it, until the removal commits and it steps down.
func (c *testRaftCluster) waitAgreedLeader(except ...*testRaftNode) *testRaftNode {
	c.t.Helper()
	var leader *testRaftNode
	waitFor(c.t, raftTestElection, func() bool {
		if leader = c.leader(); leader == nil || contains(except, leader) {
			return false
		}
		for _, tn := range c.nodes {
			if tn.node != nil && !contains(except, tn) && tn.node.LeaderID() != leader.info.ID {
				return false
			}
		}
		return true
	})
	return leader
}

// mustAcquire polls Acquire on tn until it succeeds.
func (c *testRaftCluster) mustAcquire(tn *testRaftNode) *RaftLease {
	c.t.Helper()
	var lease litefs.Lease
	waitFor(c.t, raftTestElection, func() bool {
		var err error
		lease, err = tn.leaser.Acquire(context.Background())
		return err == nil
	})
	return lease.(*RaftLease)
}

// waitPrimaryInfo waits until every node but the holder names it primary.
func (c *testRaftCluster) waitPrimaryInfo(holder *testRaftNode, except ...*testRaftNode) {
	c.t.Helper()
	want := litefs.PrimaryInfo{Hostname: holder.info.ID, AdvertiseURL: holder.info.LiteFSURL}
	for _, tn := range c.nodes {
		if tn == holder || contains(except, tn) {
			continue
		}
		waitFor(c.t, raftTestApply, func() bool {
			got, err := tn.leaser.PrimaryInfo(context.Background())
			return err == nil && got == want
		})
	}
}

func TestRaftLeaser_SingleNode(t *testing.T) {
	c := newTestRaftCluster(t, 1, 0, false)
	tn := c.nodes[0]
	ctx := testContext(t, raftTestApply)

	if got, want := tn.leaser.Type(), "raft"; got != want {
		t.Fatalf("Type()=%q, want %q", got, want)
	}
	if got, want := tn.leaser.Hostname(), "n1"; got != want {
		t.Fatalf("Hostname()=%q, want %q", got, want)
	}
	if got, want := tn.leaser.AdvertiseURL(), tn.info.LiteFSURL; got != want {
		t.Fatalf("AdvertiseURL()=%q, want %q", got, want)
	}
	if _, err := tn.leaser.PrimaryInfo(ctx); err != litefs.ErrNoPrimary {
		t.Fatalf("PrimaryInfo before acquire: err=%v, want ErrNoPrimary", err)
	}
	lease, err := tn.leaser.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.leaser.PrimaryInfo(ctx); err != litefs.ErrNoPrimary {
		t.Fatalf("PrimaryInfo on the holder: err=%v, want ErrNoPrimary", err)
	}
	if got, want := tn.leaser.PrimaryAPIURL(), tn.info.APIURL; got != want {
		t.Fatalf("PrimaryAPIURL()=%q, want %q", got, want)
	}
	if got := tn.leaser.Current(); got != lease {
		t.Fatalf("Current()=%v, want the acquired lease", got)
	}
	if err := lease.Renew(ctx); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if got, want := lease.TTL(), DefaultRaftLeaseTTL; got != want {
		t.Fatalf("TTL()=%v, want %v", got, want)
	}
	if _, err := tn.leaser.AcquireExisting(ctx, lease.ID()); err == nil {
		t.Fatal("AcquireExisting: want an error")
	}
	if err := lease.Handoff(ctx, 1); err == nil || lease.HandoffCh() != nil {
		t.Fatal("Handoff: want an error and a nil channel")
	}

	// Close releases the lease and closes Lost.
	if err := lease.Close(); err != nil {
		t.Fatal(err)
	}
	<-lease.(*RaftLease).Lost()
	if err := lease.Renew(ctx); err != litefs.ErrLeaseExpired {
		t.Fatalf("Renew after Close: err=%v, want ErrLeaseExpired", err)
	}
	if got := tn.node.lease(); got.HolderID != "" {
		t.Fatalf("holder after Close=%q, want none", got.HolderID)
	}
	if got := tn.leaser.PrimaryAPIURL(); got != "" {
		t.Fatalf("PrimaryAPIURL() after Close=%q, want none", got)
	}
}

func TestRaftLeaser_ClusterID(t *testing.T) {
	c := newTestRaftCluster(t, 3, 0, false)
	leader := c.waitAgreedLeader()
	ctx := testContext(t, raftTestApply)

	if got, err := leader.leaser.ClusterID(ctx); err != nil || got != "" {
		t.Fatalf("ClusterID()=%q, %v; want empty", got, err)
	}
	id := litefs.GenerateClusterID()
	if err := leader.leaser.SetClusterID(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := leader.leaser.SetClusterID(ctx, litefs.GenerateClusterID()); err == nil {
		t.Fatal("SetClusterID with another id: want an error")
	}
	if err := leader.leaser.SetClusterID(ctx, id); err != nil {
		t.Fatalf("SetClusterID with the same id: %v", err)
	}
	for _, tn := range c.nodes {
		waitFor(t, raftTestApply, func() bool {
			got, _ := tn.leaser.ClusterID(ctx)
			return got == id
		})
		if tn != leader {
			if err := tn.leaser.SetClusterID(ctx, id); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("SetClusterID on follower %s: err=%v, want ErrNotLeader", tn.info.ID, err)
			}
		}
	}
}

func TestRaftLeaser_Cluster(t *testing.T) {
	c := newTestRaftCluster(t, 3, 1, false)
	leader := c.waitAgreedLeader()
	ctx := testContext(t, raftTestApply)

	// Before the leader acquires, nobody names a primary.
	for _, tn := range c.nodes {
		if _, err := tn.leaser.PrimaryInfo(ctx); err != litefs.ErrNoPrimary {
			t.Fatalf("%s: PrimaryInfo before acquire: err=%v, want ErrNoPrimary", tn.info.ID, err)
		}
	}
	c.mustAcquire(leader)
	c.waitPrimaryInfo(leader)
	for _, tn := range c.nodes {
		if tn == leader {
			continue
		}
		if _, err := tn.leaser.Acquire(ctx); err != litefs.ErrPrimaryExists {
			t.Fatalf("%s: Acquire on a follower: err=%v, want ErrPrimaryExists", tn.info.ID, err)
		}
		waitFor(t, raftTestApply, func() bool { return tn.leaser.PrimaryAPIURL() == leader.info.APIURL })
	}

	// The raft configuration has three voters and one non-voter.
	servers, err := leader.node.Servers()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := suffrages(servers), "n1:Voter n2:Voter n3:Voter r1:Nonvoter"; got != want {
		t.Fatalf("Servers()=%s, want %s", got, want)
	}
	if got := leader.node.Stats()["state"]; got != "Leader" {
		t.Fatalf("Stats()[state]=%q, want Leader", got)
	}

	// Remove the leader: a voter takes over, never the non-voter.
	if err := leader.node.RemoveNode(ctx, leader.info.ID); err != nil {
		t.Fatal(err)
	}
	next := c.waitAgreedLeader(leader)
	if leader.node.IsLeader() {
		t.Fatalf("removed leader %s still leads, next to %s", leader.info.ID, next.info.ID)
	}
	c.mustAcquire(next)
	c.waitPrimaryInfo(next, leader)
	t.Logf("after removing %s, %s leads", leader.info.ID, next.info.ID)
}

func TestRaftLeaser_Partition(t *testing.T) {
	c := newTestRaftCluster(t, 3, 1, false)
	old := c.waitAgreedLeader()
	oldLease := c.mustAcquire(old)
	c.waitPrimaryInfo(old)

	// Cut the leader off, then watch for its lease loss and for a new
	// leader acquiring, whichever comes first.
	start := time.Now()
	c.partition(old)
	var lostAt time.Duration
	lostDone := make(chan struct{})
	go func() {
		defer close(lostDone)
		<-oldLease.Lost()
		lostAt = time.Since(start)
	}()
	var next *testRaftNode
	var electedAt time.Duration
	waitFor(t, raftTestElection, func() bool {
		next = c.leader()
		if next == nil || next == old {
			return false
		}
		electedAt = time.Since(start)
		return true
	})
	newLease := c.mustAcquire(next)
	acquiredAt := time.Since(start)
	<-lostDone
	t.Logf("partition of %s: old lease lost after %v, %s elected after %v, acquired after %v",
		old.info.ID, lostAt, next.info.ID, electedAt, acquiredAt)
	if lostAt >= acquiredAt {
		t.Fatalf("old lease lost after %v, new lease acquired before, after %v", lostAt, acquiredAt)
	}
	if err := oldLease.Renew(context.Background()); err != litefs.ErrLeaseExpired {
		t.Fatalf("old lease Renew: err=%v, want ErrLeaseExpired", err)
	}
	if old.leaser.Current() != nil {
		t.Fatal("old leaser still has a current lease")
	}

	// The rest of the cluster, the non-voter included, follows the new leader.
	c.waitPrimaryInfo(next, old)

	// Once healed, the old leader follows too.
	c.heal()
	c.waitAgreedLeader()
	c.waitPrimaryInfo(next)
	if err := newLease.Renew(context.Background()); err != nil {
		t.Fatalf("new lease Renew after heal: %v", err)
	}
}

func TestRaftLeaser_TransferLeadership(t *testing.T) {
	c := newTestRaftCluster(t, 3, 1, false)
	old := c.waitAgreedLeader()
	oldLease := c.mustAcquire(old)
	ctx := testContext(t, raftTestApply)

	var target, nonvoter *testRaftNode
	for _, tn := range c.nodes {
		switch {
		case !tn.voter:
			nonvoter = tn
		case tn != old && target == nil:
			target = tn
		}
	}
	if err := target.node.TransferLeadership(ctx, old.info.ID); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("TransferLeadership on a follower: err=%v, want ErrNotLeader", err)
	}
	if err := old.node.TransferLeadership(ctx, nonvoter.info.ID); err == nil {
		t.Fatal("TransferLeadership to a non-voter: want an error")
	}

	start := time.Now()
	var lostAt time.Duration
	lostDone := make(chan struct{})
	go func() {
		defer close(lostDone)
		<-oldLease.Lost()
		lostAt = time.Since(start)
	}()
	if err := old.node.TransferLeadership(ctx, target.info.ID); err != nil {
		t.Fatal(err)
	}
	<-lostDone
	if err := oldLease.Renew(ctx); err != litefs.ErrLeaseExpired {
		t.Fatalf("old lease Renew: err=%v, want ErrLeaseExpired", err)
	}
	c.mustAcquire(target)
	acquiredAt := time.Since(start)
	t.Logf("transfer %s -> %s: old lease lost after %v, new lease acquired after %v",
		old.info.ID, target.info.ID, lostAt, acquiredAt)
	if lostAt >= acquiredAt {
		t.Fatalf("old lease lost after %v, new lease acquired before, after %v", lostAt, acquiredAt)
	}
	c.waitAgreedLeader()
	c.waitPrimaryInfo(target)
}

func TestRaftNode_Restart(t *testing.T) {
	c := newTestRaftCluster(t, 3, 0, true)
	leader := c.waitAgreedLeader()
	ctx := testContext(t, raftTestElection)
	clusterID := litefs.GenerateClusterID()
	if err := leader.leaser.SetClusterID(ctx, clusterID); err != nil {
		t.Fatal(err)
	}
	for _, tn := range c.nodes {
		if err := leader.node.Register(ctx, tn.info); err != nil {
			t.Fatal(err)
		}
	}
	c.mustAcquire(leader)
	// One node restarts from a snapshot plus logs, the others from logs.
	if err := leader.node.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint(leader.node.Nodes())

	c.close()
	c.open(true)
	next := c.waitAgreedLeader()
	for _, tn := range c.nodes {
		waitFor(t, raftTestApply, func() bool {
			got, _ := tn.leaser.ClusterID(ctx)
			return got == clusterID && fmt.Sprint(tn.node.Nodes()) == want
		})
	}
	// The lease from before the restart names no one until it is acquired again.
	for _, tn := range c.nodes {
		if _, err := tn.leaser.PrimaryInfo(ctx); err != litefs.ErrNoPrimary {
			t.Fatalf("%s: PrimaryInfo after restart: err=%v, want ErrNoPrimary", tn.info.ID, err)
		}
	}
	c.mustAcquire(next)
	c.waitPrimaryInfo(next)
}

func TestRaftNode_Registry(t *testing.T) {
	c := newTestRaftCluster(t, 3, 1, false)
	leader := c.waitAgreedLeader()
	ctx := testContext(t, raftTestApply)

	for _, tn := range c.nodes {
		if err := leader.node.Register(ctx, tn.info); err != nil {
			t.Fatal(err)
		}
	}
	moved := c.nodes[3].info
	moved.Region = "elsewhere"
	if err := leader.node.Register(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if err := leader.node.Register(ctx, NodeInfo{}); err == nil {
		t.Fatal("Register without an ID: want an error")
	}
	for _, tn := range c.nodes {
		if tn != leader {
			if err := tn.node.Register(ctx, tn.info); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("Register on follower %s: err=%v, want ErrNotLeader", tn.info.ID, err)
			}
		}
	}
	want := []NodeInfo{c.nodes[0].info, c.nodes[1].info, c.nodes[2].info, moved}
	for _, tn := range c.nodes {
		waitFor(t, raftTestApply, func() bool { return fmt.Sprint(tn.node.Nodes()) == fmt.Sprint(want) })
	}

	// RemoveNode drops a node from the registry and from raft.
	if err := leader.node.RemoveNode(ctx, moved.ID); err != nil {
		t.Fatal(err)
	}
	want = want[:3]
	for _, tn := range c.nodes[:3] {
		waitFor(t, raftTestApply, func() bool { return fmt.Sprint(tn.node.Nodes()) == fmt.Sprint(want) })
	}
	servers, err := leader.node.Servers()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := suffrages(servers), "n1:Voter n2:Voter n3:Voter"; got != want {
		t.Fatalf("Servers()=%s, want %s", got, want)
	}
}

func TestRaftState_Apply(t *testing.T) {
	var s raftState
	holder := NodeInfo{ID: "n1", Role: RoleCandidate, LiteFSURL: "http://n1"}
	s.apply(raftCommand{Op: opAcquireLease, Node: &holder, LeaseID: "a"}, 3)
	if got, want := s.Lease, (raftLeaseState{HolderID: "n1", LeaseID: "a", Term: 3}); got != want {
		t.Fatalf("lease=%+v, want %+v", got, want)
	}
	if got := s.Nodes["n1"]; got != holder {
		t.Fatalf("acquire did not register the holder: %+v", got)
	}
	t.Run("only a candidate is named primary", func(t *testing.T) {
		replica := NodeInfo{ID: "r1", Role: RoleReplica, LiteFSURL: "http://r1"}
		s.apply(raftCommand{Op: opRegisterNode, Node: &replica}, 3)
		for _, n := range []NodeInfo{
			replica,                                  // says it is a replica
			{ID: "x1", LiteFSURL: "http://attacker"}, // says nothing
			{ID: "r1", Role: RoleCandidate},          // registered as a replica, claims candidacy
		} {
			if err, _ := s.apply(raftCommand{Op: opAcquireLease, Node: &n, LeaseID: "b"}, 4).(error); err == nil {
				t.Errorf("acquire-lease for %+v applied", n)
			}
		}
		if s.Lease.HolderID != "n1" || s.Nodes["r1"] != replica {
			t.Fatalf("lease=%+v r1=%+v: a refused acquire changed the state", s.Lease, s.Nodes["r1"])
		}
		if _, ok := s.Nodes["x1"]; ok {
			t.Fatal("a refused acquire registered its node")
		}
	})
	t.Run("release of another lease is ignored", func(t *testing.T) {
		s.apply(raftCommand{Op: opReleaseLease, LeaseID: "old"}, 3)
		if s.Lease.HolderID != "n1" {
			t.Fatalf("lease=%+v, want still held by n1", s.Lease)
		}
	})
	t.Run("cluster id is set once", func(t *testing.T) {
		if got := s.apply(raftCommand{Op: opSetClusterID, ClusterID: "x"}, 3); got != "x" {
			t.Fatalf("got %v, want x", got)
		}
		if got := s.apply(raftCommand{Op: opSetClusterID, ClusterID: "y"}, 3); got != "x" {
			t.Fatalf("got %v, want x kept", got)
		}
	})
	t.Run("unknown command", func(t *testing.T) {
		if _, ok := s.apply(raftCommand{Op: "nope"}, 3).(error); !ok {
			t.Fatal("want an error")
		}
	})
	s.apply(raftCommand{Op: opReleaseLease, LeaseID: "a"}, 3)
	if s.Lease != (raftLeaseState{}) {
		t.Fatalf("lease=%+v after release, want none", s.Lease)
	}
}

func TestRaftLogWriter(t *testing.T) {
	var buf bytes.Buffer
	logger := newRaftLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	logger.Info("hidden")
	logger.Warn("failed to contact", "server-id", "n2", "error", errors.New("boom"))
	got := buf.String()
	for _, want := range []string{"level=WARN", `msg="failed to contact"`, "module=raft", "server-id=n2", "error=boom"} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "hidden") {
		t.Errorf("log %q has an info line", got)
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		<-tick.C
	}
}

func testContext(t testing.TB, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

func contains(nodes []*testRaftNode, tn *testRaftNode) bool {
	for _, n := range nodes {
		if n == tn {
			return true
		}
	}
	return false
}

func suffrages(servers []raft.Server) string {
	var parts []string
	for _, s := range servers {
		parts = append(parts, fmt.Sprintf("%s:%s", s.ID, s.Suffrage))
	}
	return strings.Join(parts, " ")
}

// testLogger logs through t while the test runs and drops what raft's
// goroutines log after it ended.
func testLogger(t *testing.T) *slog.Logger {
	w := &testLogWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testLogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

var _ io.Writer = (*testLogWriter)(nil)

// TestRaftLeaser_Unfit: a raft leader that Unfit says must not lead (a
// replica stopped for a full disk) gets no lease, until Unfit says "".
func TestRaftLeaser_Unfit(t *testing.T) {
	c := newTestRaftCluster(t, 1, 0, false)
	tn := c.nodes[0]
	ctx := testContext(t, raftTestApply)
	var why atomic.Pointer[string]
	full := "disk full: 1.0 MiB free in /data"
	why.Store(&full)
	tn.leaser.Unfit = func() string { return *why.Load() }
	waitFor(t, 5*time.Second, tn.node.IsLeader)
	if lease, err := tn.leaser.Acquire(ctx); !errors.Is(err, ErrUnfit) || !strings.Contains(fmt.Sprint(err), full) {
		t.Fatalf("Acquire while unfit: %v, %v; want ErrUnfit with the reason", lease, err)
	}
	if got := tn.leaser.Current(); got != nil {
		t.Fatalf("Current()=%v while unfit, want none", got)
	}
	fit := ""
	why.Store(&fit)
	if _, err := tn.leaser.Acquire(ctx); err != nil {
		t.Fatalf("Acquire once fit: %v", err)
	}
}

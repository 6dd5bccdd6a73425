package fsmount

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/superfly/litefs"
	lfshttp "github.com/superfly/litefs/http"
	"github.com/superfly/ltx"
)

// LiteFS timings in these tests: a short ReconnectDelay (LiteFS's default
// is 1s) keeps them fast; failover times scale with it.
const (
	testReconnectDelay = 200 * time.Millisecond
	testAcquireTimeout = 2 * time.Second
)

// testLiteFS is a LiteFS store and its replication server (no FUSE) on
// top of one raft node.
type testLiteFS struct {
	tn     *testRaftNode
	store  *litefs.Store
	server *lfshttp.Server
	closed bool
	broken bool // its streams always fail
}

// openTestLiteFS starts LiteFS on tn; with broken, every stream fails, so
// the store never learns the cluster ID.
func openTestLiteFS(t *testing.T, tn *testRaftNode, broken bool) *testLiteFS {
	t.Helper()
	fs := &testLiteFS{tn: tn, store: litefs.NewStore(t.TempDir(), true), broken: broken}
	fs.store.ReconnectDelay = testReconnectDelay
	var client litefs.Client = tlsClient(testTLS(t, tn.info.ID).Client("h2"))
	if broken {
		client = failingStreams{client}
	}
	fs.store.Client = NewRaftStreamClient(client, tn.node)
	fs.server = lfshttp.NewServer(fs.store, "127.0.0.1:0")
	if err := fs.server.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := lockDownServer(fs.server, testTLS(t, tn.info.ID).Server("h2")); err != nil {
		t.Fatal(err)
	}
	tn.info.LiteFSURL = httpsURL(fs.server.URL())
	tn.leaser = NewRaftLeaser(tn.node, tn.info)
	tn.leaser.AcquireTimeout = testAcquireTimeout
	if err := tn.leaser.Open(); err != nil {
		t.Fatal(err)
	}
	fs.store.Leaser = tn.leaser
	if err := fs.store.Open(); err != nil {
		t.Fatal(err)
	}
	fs.server.Serve()
	t.Cleanup(fs.close)
	return fs
}

// close stops the server, the store and the leaser, as when the process exits.
func (fs *testLiteFS) close() {
	if !fs.closed {
		fs.closed = true
		_ = fs.server.Close()
		_ = fs.store.Close()
		_ = fs.tn.leaser.Close()
	}
}

type failingStreams struct{ litefs.Client }

func (failingStreams) Stream(context.Context, string, uint64, map[string]ltx.Pos, []string) (litefs.Stream, error) {
	return nil, errors.New("stream refused by test")
}

// waitLiteFSPrimary waits until want's store is primary and every other
// open, working store has connected to it and got the cluster ID.
func waitLiteFSPrimary(t *testing.T, stores []*testLiteFS, want *testLiteFS) {
	t.Helper()
	waitFor(t, 3*raftTestElection, func() bool {
		for _, fs := range stores {
			if fs.closed || fs.broken && fs != want {
				continue
			}
			if !fs.following(want) {
				return false
			}
		}
		return true
	})
}

// following reports whether fs is primary (fs == want) or streams from want.
func (fs *testLiteFS) following(want *testLiteFS) bool {
	isPrimary, info := fs.store.PrimaryInfo()
	if fs == want {
		return isPrimary
	}
	select {
	case <-fs.store.ReadyCh():
	default:
		return false
	}
	return !isPrimary && info != nil && info.Hostname == want.tn.info.ID &&
		fs.store.ClusterID() != "" && fs.store.ClusterID() == want.store.ClusterID()
}

func storeOf(stores []*testLiteFS, tn *testRaftNode) *testLiteFS {
	for _, fs := range stores {
		if fs.tn == tn {
			return fs
		}
	}
	return nil
}

func otherStore(stores []*testLiteFS, not ...*testLiteFS) *testLiteFS {
	for _, fs := range stores {
		if !fs.closed && !containsStore(not, fs) {
			return fs
		}
	}
	return nil
}

func containsStore(stores []*testLiteFS, fs *testLiteFS) bool {
	for _, s := range stores {
		if s == fs {
			return true
		}
	}
	return false
}

func TestRaftLeaser_LiteFSStore(t *testing.T) {
	c := newTestRaftCluster(t, 3, 0, false)
	var stores []*testLiteFS
	for _, tn := range c.nodes {
		stores = append(stores, openTestLiteFS(t, tn, false))
	}
	start := time.Now()
	first := storeOf(stores, c.waitAgreedLeader())
	waitLiteFSPrimary(t, stores, first)
	t.Logf("start: %s primary, replicas connected after %v", first.tn.info.ID, time.Since(start))

	// Planned handover: transfer raft leadership.
	target := otherStore(stores, first)
	start = time.Now()
	if err := first.tn.node.TransferLeadership(testContext(t, raftTestApply), target.tn.info.ID); err != nil {
		t.Fatal(err)
	}
	waitLiteFSPrimary(t, stores, target)
	t.Logf("transfer %s -> %s: new primary, replicas connected after %v", first.tn.info.ID, target.tn.info.ID, time.Since(start))

	// The primary's process dies: a voter takes over.
	start = time.Now()
	target.close()
	if err := target.tn.node.Close(); err != nil {
		t.Fatal(err)
	}
	next := storeOf(stores, c.waitAgreedLeader(target.tn))
	waitLiteFSPrimary(t, stores, next)
	t.Logf("crash of %s: %s primary, replicas connected after %v", target.tn.info.ID, next.tn.info.ID, time.Since(start))
}

// A raft leader whose store has no cluster ID cannot become primary; the
// watchdog hands raft leadership back to a store that can.
func TestRaftLeaser_LeaderWithoutClusterID(t *testing.T) {
	c := newTestRaftCluster(t, 3, 0, false)
	leader := c.waitAgreedLeader()
	// One follower's store never gets a stream through.
	var stores []*testLiteFS
	var stuck *testLiteFS
	for _, tn := range c.nodes {
		fs := openTestLiteFS(t, tn, tn != leader && stuck == nil)
		if fs.broken {
			stuck = fs
		}
		stores = append(stores, fs)
	}
	first := storeOf(stores, leader)
	waitLiteFSPrimary(t, stores, first)

	start := time.Now()
	if err := first.tn.node.TransferLeadership(testContext(t, raftTestApply), stuck.tn.info.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, raftTestApply, func() bool { return !first.store.IsPrimary() })
	lostAt := time.Since(start)
	waitLiteFSPrimary(t, stores, first)
	t.Logf("%s lost primary after %v", first.tn.info.ID, lostAt)
	t.Logf("leadership to %s (no cluster id): %s primary again after %v (acquire timeout %v)",
		stuck.tn.info.ID, first.tn.info.ID, time.Since(start), testAcquireTimeout)
}

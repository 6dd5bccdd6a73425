package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/tablecast/tablecast/fsmount"
)

// hungPeer accepts connections and never answers on them: a node whose
// process hangs. Each accepted connection is sent on the channel.
func hungPeer(t *testing.T) (string, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 64)
	var held []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			select {
			case accepted <- c:
			default:
			}
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		for _, c := range held {
			_ = c.Close()
		}
	})
	return "http://" + ln.Addr().String(), accepted
}

// A call to a peer that accepts and never answers ends at the client's
// timeout, with the deadline as its error.
func TestClient_Join_HungPeer(t *testing.T) {
	url, _ := hungPeer(t)
	c := NewClient(nil, "secret")
	c.Timeout = 200 * time.Millisecond
	start := time.Now()
	err := c.Join(t.Context(), url, JoinRequest{Node: fsmount.NodeInfo{ID: "syd-2"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("join: %v, want the call's deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("join returned after %s, timeout %s", took, c.Timeout)
	}
}

// TestNode_JoinLoop_HungPeer: with a join URL that accepts and never
// answers, each join attempt ends at the client's timeout and the loop
// tries again (a new connection each time); the loop ends with its
// context.
func TestNode_JoinLoop_HungPeer(t *testing.T) {
	url, accepted := hungPeer(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, trans := raft.NewInmemTransport("")
	r, err := fsmount.OpenRaft(fsmount.RaftConfig{ID: "syd-2", Transport: trans, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	n := New(Options{Name: "syd-2", Join: url, InsecurePlaintext: true, Logger: logger})
	n.raft, n.client = r, NewClient(nil, "secret")
	n.self = fsmount.NodeInfo{ID: "syd-2", Role: fsmount.RoleReplica, RaftAddr: string(trans.LocalAddr())}
	n.client.Timeout = 200 * time.Millisecond

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() { n.joinLoop(ctx); close(done) }()
	deadline := time.After(10 * time.Second)
	for i := range 3 {
		select {
		case <-accepted:
		case <-deadline:
			t.Fatalf("%d join attempts in 10s with a %s timeout: the loop stalled on the hung peer", i, n.client.Timeout)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("join loop still running 5s after its context ended")
	}
}

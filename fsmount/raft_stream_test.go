package fsmount

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	lfshttp "github.com/superfly/litefs/http"
)

// hangingPrimary answers /stream like a LiteFS primary whose host then
// goes silent: headers, then nothing, the connection left open.
func hangingPrimary(t *testing.T) *httptest.Server {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true) // as LiteFS's client speaks
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestRaftStreamClient_CutOnLeaderChange(t *testing.T) {
	c := newTestRaftCluster(t, 3, 1, false)
	old := c.waitAgreedLeader()
	ctx := testContext(t, raftTestElection)
	srv := hangingPrimary(t)
	primary := old.info
	primary.LiteFSURL = srv.URL
	if err := old.node.Register(ctx, primary); err != nil {
		t.Fatal(err)
	}

	// Every other node streams from the old leader; nothing arrives.
	done := map[string]chan error{}
	for _, tn := range c.nodes {
		if tn == old {
			continue
		}
		waitFor(t, raftTestApply, func() bool { _, ok := tn.node.Node(old.info.ID); return ok })
		client := NewRaftStreamClient(lfshttp.NewClient(), tn.node)
		st, err := client.Stream(ctx, srv.URL, 1, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		done[tn.info.ID] = make(chan error, 1)
		go func() {
			_, err := st.Read(make([]byte, 1))
			done[tn.info.ID] <- err
		}()
	}
	for id, ch := range done {
		select {
		case err := <-ch:
			t.Fatalf("%s: stream ended before any leader change: %v", id, err)
		default:
		}
	}

	// The old leader's host goes silent: once a new leader is known, every
	// stream ends, the new leader's own included.
	start := time.Now()
	c.partition(old)
	for id, ch := range done {
		select {
		case err := <-ch:
			if err == nil {
				t.Fatalf("%s: Read returned no error", id)
			}
			t.Logf("%s: stream cut after %v: %v", id, time.Since(start), err)
		case <-ctx.Done():
			t.Fatalf("%s: stream not cut: %v", id, ctx.Err())
		}
	}
}

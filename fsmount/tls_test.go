package fsmount

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/superfly/litefs"
	lfshttp "github.com/superfly/litefs/http"
	"github.com/tablecast/tablecast/nodetls"
)

// One cluster CA for the test binary, plus a second one (a stranger's).
var testPKI struct {
	once        sync.Once
	dir, other  string
	err         error
	mu          sync.Mutex
	nodes, outs map[string]*nodetls.Config
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testPKI.dir != "" {
		os.RemoveAll(filepath.Dir(testPKI.dir))
	}
	os.Exit(code)
}

// testTLS is node name's TLS identity in the test cluster CA.
func testTLS(t testing.TB, name string) *nodetls.Config { return testIdentity(t, name, false) }

// strangerTLS is a node certificate of another CA.
func strangerTLS(t testing.TB, name string) *nodetls.Config { return testIdentity(t, name, true) }

func testIdentity(t testing.TB, name string, stranger bool) *nodetls.Config {
	t.Helper()
	testPKI.once.Do(func() {
		root, err := os.MkdirTemp("", "fsmount-pki-")
		if err != nil {
			testPKI.err = err
			return
		}
		testPKI.dir, testPKI.other = filepath.Join(root, "ca"), filepath.Join(root, "other")
		testPKI.nodes, testPKI.outs = map[string]*nodetls.Config{}, map[string]*nodetls.Config{}
		for _, d := range []string{testPKI.dir, testPKI.other} {
			if err := nodetls.NewCA(d, time.Hour); err != nil {
				testPKI.err = err
				return
			}
		}
	})
	if testPKI.err != nil {
		t.Fatal(testPKI.err)
	}
	testPKI.mu.Lock()
	defer testPKI.mu.Unlock()
	dir, cache := testPKI.dir, testPKI.nodes
	if stranger {
		dir, cache = testPKI.other, testPKI.outs
	}
	if c, ok := cache[name]; ok {
		return c
	}
	cert, key, err := nodetls.IssueNode(dir, dir, nodetls.Node{Name: name, Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := nodetls.Load(filepath.Join(dir, nodetls.CACertFile), cert, key)
	if err != nil {
		t.Fatal(err)
	}
	cache[name] = c
	return c
}

// lockDownServer reaches into LiteFS's unexported fields: if LiteFS
// changes them, this fails (and so does Mount.Listen), loudly.
func TestLockDownServer(t *testing.T) {
	store := litefs.NewStore(t.TempDir(), true)
	srv := lfshttp.NewServer(store, "127.0.0.1:0")
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := lockDownServer(srv, testTLS(t, "n1").Server("h2")); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	defer srv.Close()
	base := httpsURL(srv.URL())
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("URL %s", base)
	}

	t.Run("PlainHTTPGetsNothing", func(t *testing.T) {
		for _, c := range []*http.Client{lfshttp.NewClient().HTTPClient, {Timeout: 5 * time.Second}} {
			resp, err := c.Get(strings.Replace(base, "https://", "http://", 1) + "/debug/pprof/")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK || bytes.Contains(body, []byte("profile")) {
					t.Fatalf("plain HTTP answered %d: %.80q", resp.StatusCode, body)
				}
			}
		}
	})
	t.Run("NoClientCert", func(t *testing.T) {
		cfg := testTLS(t, "n2").Client("h2")
		cfg.Certificates = nil
		if code, err := getStatus(tlsClient(cfg), base+"/export?name=x.db"); err == nil {
			t.Fatalf("answered %d without a client certificate", code)
		}
	})
	t.Run("OtherCA", func(t *testing.T) {
		if code, err := getStatus(tlsClient(strangerTLS(t, "n2").Client("h2")), base+"/export?name=x.db"); err == nil {
			t.Fatalf("answered %d to another CA's certificate", code)
		}
	})
	t.Run("OnlyTheStream", func(t *testing.T) {
		c := tlsClient(testTLS(t, "n2").Client("h2"))
		for _, path := range []string{"/export?name=x.db", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/vars", "/metrics", "/info", "/events", "/halt", "/import?name=x.db", "/tx", "/promote", "/handoff?nodeID=1", "/stream"} {
			if code, err := getStatus(c, base+path); err != nil || code != http.StatusNotFound {
				t.Errorf("GET %s: %d %v, want 404", path, code, err)
			}
		}
		for _, path := range []string{"/import?name=x.db", "/halt", "/tx", "/promote", "/handoff?nodeID=1"} {
			resp, err := c.HTTPClient.Post(base+path, "application/octet-stream", strings.NewReader("SQLite format 3\x00"))
			if err != nil {
				t.Fatalf("POST %s: %v", path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("POST %s: %d, want 404", path, resp.StatusCode)
			}
		}
		// POST /stream reaches LiteFS (which refuses this store: not primary).
		resp, err := c.HTTPClient.Post(base+"/stream", "application/octet-stream", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Errorf("POST /stream: 404: the stream must pass")
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("POST /stream over %s, want HTTP/2", resp.Proto)
		}
	})
}

// Without TLS (insecure-plaintext), LiteFS's own h2c client still works
// and the filter still holds, h2c connections included.
func TestLockDownServer_Plaintext(t *testing.T) {
	srv := lfshttp.NewServer(litefs.NewStore(t.TempDir(), true), "127.0.0.1:0")
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := lockDownServer(srv, nil); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	defer srv.Close()
	for name, c := range map[string]*http.Client{"h2c": lfshttp.NewClient().HTTPClient, "http1": {Timeout: 5 * time.Second}} {
		if code, err := getStatus(&lfshttp.Client{HTTPClient: c}, srv.URL()+"/debug/pprof/"); err != nil || code != http.StatusNotFound {
			t.Errorf("%s GET /debug/pprof/: %d %v, want 404", name, code, err)
		}
	}
}

func getStatus(c *lfshttp.Client, url string) (int, error) {
	resp, err := c.HTTPClient.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// The raft stream layer talks to peers of the cluster CA, and to no one else.
func TestTLSStreamLayer(t *testing.T) {
	a, err := NewTLSStreamLayer("127.0.0.1:0", nil, testTLS(t, "n1").Server(), testTLS(t, "n1").Client())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	addr := raft.ServerAddress(a.Addr().String())
	accepted := make(chan error, 8)
	go func() {
		for {
			c, err := a.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 5)
				if _, err := io.ReadFull(c, buf); err != nil {
					accepted <- err
					return
				}
				_, err := c.Write(buf)
				accepted <- err
			}()
		}
	}()
	dial := func(client *tls.Config) error {
		b, err := NewTLSStreamLayer("127.0.0.1:0", nil, testTLS(t, "n2").Server(), client)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		c, err := b.Dial(addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("hello")); err != nil {
			return err
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != "hello" {
			return fmt.Errorf("echo %q", buf)
		}
		return nil
	}
	t.Run("SameCA", func(t *testing.T) {
		if err := dial(testTLS(t, "n2").Client()); err != nil {
			t.Fatal(err)
		}
		if err := <-accepted; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OtherCA", func(t *testing.T) {
		if err := dial(strangerTLS(t, "n2").Client()); err == nil {
			t.Fatal("another CA's node talked to raft")
		}
		if err := <-accepted; err == nil {
			t.Fatal("the server read bytes from another CA's node")
		}
	})
	t.Run("NoClientCert", func(t *testing.T) {
		cfg := testTLS(t, "n2").Client()
		cfg.Certificates = nil
		if err := dial(cfg); err == nil {
			t.Fatal("a peer without a certificate talked to raft")
		}
		if err := <-accepted; err == nil {
			t.Fatal("the server read bytes from a peer without a certificate")
		}
	})
	t.Run("PlainTCP", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", string(addr), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// What raft.NetworkTransport sends first: an rpc type byte, then msgpack.
		_, _ = c.Write([]byte{0, 0x80, 0x80, 0x80, 0x80, 0x80})
		if err := <-accepted; err == nil {
			t.Fatal("the server read plain TCP bytes as raft")
		}
	})
	t.Run("ForgedAppendEntries", func(t *testing.T) {
		// A whole raft transport from another CA: its AppendEntries with a
		// higher term never reaches the node.
		out, err := NewTLSTransport("127.0.0.1:0", nil, strangerTLS(t, "x").Server(), strangerTLS(t, "x").Client(), 1, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		var resp raft.AppendEntriesResponse
		err = out.AppendEntries("n1", addr, &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("x"), Addr: []byte(out.LocalAddr())}, Term: 1 << 40}, &resp)
		if err == nil {
			t.Fatalf("forged AppendEntries answered: %+v", resp)
		}
		if err := <-accepted; err == nil {
			t.Fatal("the server read a forged AppendEntries")
		}
	})
}

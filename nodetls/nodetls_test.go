package nodetls

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pki makes a CA in dir and a node certificate for name; it returns the
// node's Config (loaded as a node would) and the cert and key paths.
func pki(t *testing.T, dir, name string, n Node) (certPath, keyPath string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, CACertFile)); err != nil {
		if err := NewCA(dir, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	n.Name = name
	if n.Hosts == nil {
		n.Hosts = []string{"127.0.0.1"}
	}
	cert, key, err := IssueNode(dir, dir, n)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func load(t *testing.T, dir, name string) *Config {
	t.Helper()
	cert, key := pki(t, dir, name, Node{})
	c, err := Load(filepath.Join(dir, CACertFile), cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// handshake runs one TLS handshake between client and server configs over
// loopback; it returns the client's and the server's errors.
func handshake(t *testing.T, client, server *tls.Config) (clientErr, serverErr error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		err = c.(*tls.Conn).Handshake()
		if err == nil {
			// TLS 1.3: the client learns the server refused its
			// certificate only when it reads.
			_, err = c.Write([]byte("ok"))
		}
		done <- err
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), client)
	if err == nil {
		buf := make([]byte, 2)
		_, err = c.Read(buf)
		c.Close()
	}
	return err, <-done
}

func TestMutualTLS(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	a, b := load(t, dir, "lhr-1"), load(t, dir, "syd-1")
	stranger := load(t, other, "lhr-1") // same name, another cluster's CA

	t.Run("SameCA", func(t *testing.T) {
		if cerr, serr := handshake(t, a.Client(), b.Server()); cerr != nil || serr != nil {
			t.Fatalf("client %v, server %v", cerr, serr)
		}
		if a.Name() != "lhr-1" {
			t.Fatalf("name %q", a.Name())
		}
	})
	t.Run("NoClientCert", func(t *testing.T) {
		cfg := a.Client()
		cfg.Certificates = nil
		cerr, serr := handshake(t, cfg, b.Server())
		if serr == nil || !strings.Contains(serr.Error(), "certificate") || cerr == nil {
			t.Fatalf("client %v, server %v: want the server to refuse", cerr, serr)
		}
	})
	t.Run("ClientOfOtherCA", func(t *testing.T) {
		// It trusts our CA, but its own certificate is another CA's.
		cfg := a.Client()
		cfg.Certificates = []tls.Certificate{stranger.cert}
		cerr, serr := handshake(t, cfg, b.Server())
		if serr == nil || !strings.Contains(serr.Error(), "unknown authority") || cerr == nil {
			t.Fatalf("client %v, server %v: want unknown authority", cerr, serr)
		}
	})
	t.Run("ServerOfOtherCA", func(t *testing.T) {
		cerr, _ := handshake(t, a.Client(), stranger.Server())
		if cerr == nil || !strings.Contains(cerr.Error(), "unknown authority") {
			t.Fatalf("client %v: want unknown authority", cerr)
		}
	})
	t.Run("ExpiredClientCert", func(t *testing.T) {
		cert, key := pki(t, dir, "old-1", Node{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
		if _, err := Load(filepath.Join(dir, CACertFile), cert, key); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("Load of an expired certificate: %v", err)
		}
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		cfg := a.Client()
		cfg.Certificates = []tls.Certificate{kp}
		cerr, serr := handshake(t, cfg, b.Server())
		if serr == nil || !strings.Contains(serr.Error(), "expired") || cerr == nil {
			t.Fatalf("client %v, server %v: want expired", cerr, serr)
		}
	})
	t.Run("ExpiredServerCert", func(t *testing.T) {
		cert, key := pki(t, dir, "old-2", Node{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		srv := b.Server()
		srv.Certificates = []tls.Certificate{kp}
		if cerr, _ := handshake(t, a.Client(), srv); cerr == nil || !strings.Contains(cerr.Error(), "expired") {
			t.Fatalf("client %v: want expired", cerr)
		}
	})
	t.Run("CACertIsNoNodeCert", func(t *testing.T) {
		// The CA's own certificate and key, presented as a node's: the chain
		// verifies, but it is no node certificate.
		kp, err := tls.LoadX509KeyPair(filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		cfg := a.Client()
		cfg.Certificates = []tls.Certificate{kp}
		if _, serr := handshake(t, cfg, b.Server()); serr == nil {
			t.Fatal("server accepted the CA certificate as a client certificate")
		}
	})
	t.Run("TLS12Refused", func(t *testing.T) {
		cfg := a.Client()
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		if cerr, serr := handshake(t, cfg, b.Server()); cerr == nil || serr == nil {
			t.Fatalf("client %v, server %v: want TLS 1.2 refused", cerr, serr)
		}
	})
}

func TestCertFiles(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	if err := NewCA(dir, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := NewCA(dir, time.Hour); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("second NewCA in the same dir: %v, want a refusal", err)
	}
	cert, key, err := IssueNode(dir, out, Node{Name: "syd-1", Hosts: []string{"10.0.0.7", "syd-1.internal", ""}})
	if err != nil {
		t.Fatal(err)
	}
	for path, mode := range map[string]os.FileMode{filepath.Join(dir, CAKeyFile): 0o600, key: 0o600, cert: 0o644, filepath.Join(out, CACertFile): 0o644} {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want mode %v", path, st.Mode(), err, mode)
		}
	}
	c, err := Load(filepath.Join(out, CACertFile), cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.leaf.IPAddresses; len(got) != 1 || got[0].String() != "10.0.0.7" {
		t.Errorf("IP SANs %v", got)
	}
	if got := c.leaf.DNSNames; strings.Join(got, ",") != "syd-1,syd-1.internal" {
		t.Errorf("DNS SANs %v", got)
	}
	if _, _, err := IssueNode(t.TempDir(), out, Node{Name: "x"}); err == nil {
		t.Error("IssueNode without a CA succeeded")
	}
	if _, _, err := IssueNode(dir, out, Node{Name: "../x"}); err == nil {
		t.Error("IssueNode accepted a path as a name")
	}
}

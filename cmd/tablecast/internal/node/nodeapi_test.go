package node

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast/nodetls"
)

// A node loads its own certificate of the cluster CA, refuses another
// node's or another CA's, and warns when it runs in plaintext.
func TestNode_LoadTLS(t *testing.T) {
	ca, out := filepath.Join(t.TempDir(), "ca"), t.TempDir()
	if err := nodetls.NewCA(ca, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := nodetls.IssueNode(ca, out, nodetls.Node{Name: "syd-1", Hosts: []string{"127.0.0.1"}, NotAfter: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	files := TLSFiles{CA: filepath.Join(out, nodetls.CACertFile), Cert: filepath.Join(out, "syd-1.crt"), Key: filepath.Join(out, "syd-1.key")}

	load := func(name string, tls TLSFiles, plaintext bool) (string, error) {
		var logs bytes.Buffer
		n := New(Options{Name: name, TLS: tls, InsecurePlaintext: plaintext, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		err := n.loadTLS()
		if err == nil && (n.client == nil || n.client.Timeout == 0 || n.client.Transport().ResponseHeaderTimeout == 0) {
			t.Errorf("node client %+v: want one with timeouts", n.client)
		}
		if err == nil && !plaintext && (n.tls == nil || n.client.Transport().TLSClientConfig == nil) {
			t.Error("TLS loaded, yet node calls would go in plaintext")
		}
		return logs.String(), err
	}
	if _, err := load("syd-1", files, false); err != nil {
		t.Fatal(err)
	}
	if _, err := load("lhr-1", files, false); err == nil || !strings.Contains(err.Error(), "tablecast.tls.cert") {
		t.Errorf("another node's certificate: %v, want a refusal naming tablecast.tls.cert", err)
	}
	other := t.TempDir()
	if err := nodetls.NewCA(other, time.Hour); err != nil {
		t.Fatal(err)
	}
	wrongCA := files
	wrongCA.CA = filepath.Join(other, nodetls.CACertFile)
	if _, err := load("syd-1", wrongCA, false); err == nil || !strings.Contains(err.Error(), "tablecast.tls") {
		t.Errorf("certificate of another CA: %v, want a refusal", err)
	}
	missing := files
	missing.Key = filepath.Join(out, "nope.key")
	if _, err := load("syd-1", missing, false); err == nil {
		t.Error("missing key file: loaded")
	}
	logs, err := load("syd-1", TLSFiles{}, true)
	if err != nil || !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "insecure-plaintext") {
		t.Errorf("insecure-plaintext: %v, logs %q: want a warning", err, logs)
	}
}

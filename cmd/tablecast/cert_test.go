package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast/nodetls"
)

// The cert commands make what a node loads: its name must match.
func TestCertCommands(t *testing.T) {
	ca, out := filepath.Join(t.TempDir(), "ca"), t.TempDir()
	if _, err := captureStdout(t, func() error { return runCert([]string{"ca", "-dir", ca}) }); err != nil {
		t.Fatal(err)
	}
	if _, err := captureStdout(t, func() error { return runCert([]string{"ca", "-dir", ca}) }); err == nil {
		t.Fatal("a second cert ca over the first succeeded")
	}
	printed, err := captureStdout(t, func() error {
		return runCert([]string{"node", "-ca-dir", ca, "-name", "syd-1", "-host", "127.0.0.1,syd-1.internal", "-out", out})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tls:", "ca: ", "syd-1.crt", "syd-1.key"} {
		if !strings.Contains(printed, want) {
			t.Errorf("cert node output lacks %q:\n%s", want, printed)
		}
	}
	if err := runCert([]string{"node", "-ca-dir", ca, "-out", out}); err == nil {
		t.Error("cert node without -name succeeded")
	}
	files := TLSConfig{CA: filepath.Join(out, nodetls.CACertFile), Cert: filepath.Join(out, "syd-1.crt"), Key: filepath.Join(out, "syd-1.key")}

	load := func(name string, tls TLSConfig, plaintext bool) (string, error) {
		var logs bytes.Buffer
		n := &node{cfg: &Config{}, logger: slog.New(slog.NewTextHandler(&logs, nil))}
		n.cfg.Tablecast.Name, n.cfg.Tablecast.TLS, n.cfg.Tablecast.InsecurePlaintext = name, tls, plaintext
		err := n.loadTLS()
		if err == nil && (n.nodeClient == nil || n.nodeClient.Timeout == 0) {
			t.Errorf("node client %+v: want one with a timeout", n.nodeClient)
		}
		if err == nil && !plaintext && (n.tls == nil || n.nodeTransport.TLSClientConfig == nil) {
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
	logs, err := load("syd-1", TLSConfig{}, true)
	if err != nil || !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "insecure-plaintext") {
		t.Errorf("insecure-plaintext: %v, logs %q: want a warning", err, logs)
	}
	if st, err := os.Stat(files.Key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("node key mode: %v %v", st.Mode(), err)
	}
}

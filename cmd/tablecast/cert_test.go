package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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

	// What the node loads (internal/node TestNode_LoadTLS checks the rest).
	if c, err := nodetls.Load(files.CA, files.Cert, files.Key); err != nil || c.Name() != "syd-1" {
		t.Fatalf("load the node certificate: %v", err)
	}
	if st, err := os.Stat(files.Key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("node key mode: %v %v", st.Mode(), err)
	}
}

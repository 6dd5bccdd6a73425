package devcluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCluster_ClearEarlier: a dev cluster's folder from an earlier run
// is cleared (node folders it wrote, cluster.json), anything else in the
// folder is kept, and a cluster still running there is refused.
func TestCluster_ClearEarlier(t *testing.T) {
	dir := t.TempDir()
	write := func(path, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cluster := func(pid int) {
		b, _ := json.Marshal(map[string]any{"nodes": []ClusterNode{{Name: "lhr-1", PID: pid}}})
		write(filepath.Join(dir, "cluster.json"), string(b))
	}
	write(filepath.Join(dir, "lhr-1", "litefs.yml"), "# written by tablecast dev\nfuse:\n")
	write(filepath.Join(dir, "lhr-1", "data", "raft", "x"), "raft state")
	write(filepath.Join(dir, "mine", "litefs.yml"), "# my own config\n")
	write(filepath.Join(dir, "notes.txt"), "keep")

	// The test's own pid: alive, but its command line names neither the
	// folder nor the node, so not that cluster.
	c := New(Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	cluster(os.Getpid())
	if err := c.clearEarlier(); err != nil {
		t.Fatalf("a pid whose command line does not name the folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lhr-1")); !os.IsNotExist(err) {
		t.Fatalf("earlier node folder kept: %v", err)
	}
	for _, keep := range []string{"mine/litefs.yml", "notes.txt"} {
		if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
			t.Fatalf("%s removed: %v", keep, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "cluster.json")); !os.IsNotExist(err) {
		t.Fatalf("cluster.json kept: %v", err)
	}

	// A live process whose command line names the folder, as a node's
	// does (-config DIR/lhr-1/litefs.yml): refused, nothing removed.
	write(filepath.Join(dir, "lhr-1", "litefs.yml"), "# written by tablecast dev\n")
	node := exec.Command("sh", "-c", "sleep 30; true # -config "+filepath.Join(dir, "lhr-1", "litefs.yml"))
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = node.Process.Kill(); _ = node.Wait() }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		// Start returns once forked; the command line is sh's once it ran.
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", node.Process.Pid)); bytes.Contains(b, []byte(dir)) {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("sh never ran: %q", b)
		}
	}
	cluster(node.Process.Pid)
	if err := c.clearEarlier(); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("a running cluster: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lhr-1", "litefs.yml")); err != nil {
		t.Fatalf("a running cluster's folder was touched: %v", err)
	}
}

package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckStartSpace: a node starts only with room for raft-wal's first
// segment (unless it has one) plus the write floor, and the refusal names
// the folder and the figures.
func TestCheckStartSpace(t *testing.T) {
	dir := t.TempDir()
	cfg := &Options{FUSEDir: dir + "/fuse", DataDir: dir + "/data/sub", MinFree: 8388608, InsecurePlaintext: true}
	var asked string
	free := func(n uint64) func(string) (uint64, error) {
		return func(d string) (uint64, error) { asked = d; return n, nil }
	}
	err := checkStartSpace(cfg, free(72<<20-1))
	want := "data.dir " + dir + "/data/sub: 72.0 MiB free, a node needs 72.0 MiB there to start: 64.0 MiB for the raft log's first segment (raft-wal preallocates it) + 8.0 MiB of tablecast.min-free-bytes"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if asked != dir {
		t.Errorf("statfs of %s, want the nearest existing folder %s", asked, dir)
	}
	if err := checkStartSpace(cfg, free(72<<20)); err != nil {
		t.Fatal(err)
	}
	// A node that has its raft log needs only the floor.
	wal := raftWALDir(cfg)
	if err := os.MkdirAll(wal, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wal, "00000000000000000001-0000000000000001.wal"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkStartSpace(cfg, free(8<<20)); err != nil {
		t.Fatal(err)
	}
	if err := checkStartSpace(cfg, free(8<<20-1)); err == nil || !strings.Contains(err.Error(), "needs 8.0 MiB there to start: 8.0 MiB of tablecast.min-free-bytes;") {
		t.Fatalf("with a raft log: %v", err)
	}
	cfg.MinFree = 0 // tablecast.min-free-bytes: -1
	if err := checkStartSpace(cfg, free(0)); err != nil {
		t.Fatalf("no floor: %v", err)
	}
}

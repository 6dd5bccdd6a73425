package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	raftwal "github.com/hashicorp/raft-wal"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/primary"
)

// minFree is the free-space floor in bytes, 0 for none.
func (t *TablecastConfig) minFree() uint64 {
	if t.MinFreeBytes <= 0 {
		return 0
	}
	return uint64(t.MinFreeBytes)
}

// spaceFloor is the primary's free-space check of every write: the data
// folder holds LiteFS's LTX files and, behind the FUSE mount, the
// databases and their WALs (statfs on the mount is LiteFS's passthrough
// to the data folder); both are read in case they ever differ.
func (n *node) spaceFloor() *primary.SpaceFloor {
	c := n.cfg
	floor := c.Tablecast.minFree()
	if floor == 0 {
		return nil
	}
	return &primary.SpaceFloor{Dirs: []string{c.Data.Dir, c.FUSE.Dir}, MinFree: floor, Logger: n.logger}
}

// raftWALDir is where the raft log lives: openRaft's "raft" folder under
// data.dir, and fsmount's "wal" in it.
func raftWALDir(c *Config) string { return filepath.Join(c.Data.Dir, "raft", "wal") }

// checkStartSpace refuses to start a node whose data folder has less free
// space than raft-wal preallocates for its first log segment (64 MiB, when
// there is none yet) plus the write floor: such a node cannot open its
// raft log, or would refuse every write as soon as it became primary.
func checkStartSpace(c *Config, free func(string) (uint64, error)) error {
	dir := c.Data.Dir
	for { // the folder may not exist yet: its nearest parent's file system
		if _, err := os.Stat(dir); err == nil || dir == filepath.Dir(dir) {
			break
		}
		dir = filepath.Dir(dir)
	}
	have, err := free(dir)
	if err != nil {
		return fmt.Errorf("data.dir %s: cannot read free space: %w", c.Data.Dir, err)
	}
	var parts []string
	need := uint64(0)
	if c.Lease.Type == "raft" {
		has, err := hasRaftSegment(raftWALDir(c))
		if err != nil {
			return err
		}
		if !has {
			need += uint64(raftwal.DefaultSegmentSize)
			parts = append(parts, tablecast.FormatBytes(uint64(raftwal.DefaultSegmentSize))+" for the raft log's first segment (raft-wal preallocates it)")
		}
	}
	if floor := c.Tablecast.minFree(); floor > 0 {
		need += floor
		parts = append(parts, tablecast.FormatBytes(floor)+" of tablecast.min-free-bytes")
	}
	if have >= need {
		return nil
	}
	return fmt.Errorf("data.dir %s: %s free, a node needs %s there to start: %s; free some space or give it a larger volume",
		c.Data.Dir, tablecast.FormatBytes(have), tablecast.FormatBytes(need), strings.Join(parts, " + "))
}

// hasRaftSegment reports whether raft-wal already has a segment file.
func hasRaftSegment(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("read raft log folder: %w", err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".wal") {
			return true, nil
		}
	}
	return false, nil
}

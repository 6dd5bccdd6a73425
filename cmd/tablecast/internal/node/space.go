package node

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

// spaceFloor is the primary's free-space check of every write: the data
// folder holds LiteFS's LTX files and, behind the FUSE mount, the
// databases and their WALs (statfs on the mount is LiteFS's passthrough
// to the data folder); both are read in case they ever differ.
func (n *Node) spaceFloor() *primary.SpaceFloor {
	o := &n.opts
	if o.MinFree == 0 {
		return nil
	}
	return &primary.SpaceFloor{Dirs: []string{o.DataDir, o.FUSEDir}, MinFree: o.MinFree, Logger: n.logger}
}

// raftWALDir is where the raft log lives: openRaft's "raft" folder under
// data.dir, and fsmount's "wal" in it.
func raftWALDir(o *Options) string { return filepath.Join(o.DataDir, "raft", "wal") }

// checkStartSpace refuses to start a node whose data folder has less free
// space than raft-wal preallocates for its first log segment (64 MiB, when
// there is none yet) plus the write floor: such a node cannot open its
// raft log, or would refuse every write as soon as it became primary.
func checkStartSpace(o *Options, free func(string) (uint64, error)) error {
	dir := o.DataDir
	for { // the folder may not exist yet: its nearest parent's file system
		if _, err := os.Stat(dir); err == nil || dir == filepath.Dir(dir) {
			break
		}
		dir = filepath.Dir(dir)
	}
	have, err := free(dir)
	if err != nil {
		return fmt.Errorf("data.dir %s: cannot read free space: %w", o.DataDir, err)
	}
	var parts []string
	need := uint64(0)
	if !o.StaticLease {
		has, err := hasRaftSegment(raftWALDir(o))
		if err != nil {
			return err
		}
		if !has {
			need += uint64(raftwal.DefaultSegmentSize)
			parts = append(parts, tablecast.FormatBytes(uint64(raftwal.DefaultSegmentSize))+" for the raft log's first segment (raft-wal preallocates it)")
		}
	}
	if floor := o.MinFree; floor > 0 {
		need += floor
		parts = append(parts, tablecast.FormatBytes(floor)+" of tablecast.min-free-bytes")
	}
	if have >= need {
		return nil
	}
	return fmt.Errorf("data.dir %s: %s free, a node needs %s there to start: %s; free some space or give it a larger volume",
		o.DataDir, tablecast.FormatBytes(have), tablecast.FormatBytes(need), strings.Join(parts, " + "))
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

package tablecast

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// TuneProcs gives Go one P more than its default (one per core), unless
// GOMAXPROCS is set. A read calls SQLite through cgo, and a cgo call keeps
// its P while SQLite waits on the FUSE mount; the FUSE request is answered
// by LiteFS in this same process, which needs a P to run. With one P per
// core it can wait until Go's sysmon takes the blocked P back (up to 10 ms
// when the process looked idle). Measured on 2 cores under full cached
// read load with 20 writes/s: at GOMAXPROCS=2 one catch-up in four took
// 10-25 ms (reads wait for it); at 3, none over 10 ms and no drop in
// cached reads; at 4 or 6, none either, but cached reads 10-20 % slower
// (more threads than cores to schedule).
func TuneProcs() (int, bool) {
	if os.Getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0), false
	}
	n := runtime.GOMAXPROCS(0) + 1
	runtime.GOMAXPROCS(n)
	return n, true
}

// Garbage collector defaults for a node, each unless its environment
// variable is set: collect when the heap has grown by GCPercent of what
// survived the last collection (Go's default is 100), and in any case keep
// the heap under MemoryLimitShare of the machine's (or cgroup's) memory.
//
// A cached read allocates little of its own, but net/http allocates per
// request (the header map and the copy it makes of it at WriteHeader were
// 38 % of all bytes under cached load); with a small live heap Go then
// collects several times a second, ~10 % of a replica's CPU. Measured on 2
// cores (bench cache, every process at GOGC=400): cached reads 0.92 of bare
// instead of 0.77-0.85. The memory limit keeps the bigger heap within the
// machine: near it, the collector runs as often as it must.
const (
	GCPercent        = 400
	MemoryLimitShare = 0.75
)

// TuneGC applies the collector defaults and says what it set ("" if
// nothing). planned is the memory the node's settings call for (see
// PlannedMemory; 0 for none): the Go memory limit is the smaller of it and
// MemoryLimitShare of the machine's or cgroup's memory.
func TuneGC(planned int64) string {
	var set []string
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
		set = append(set, fmt.Sprintf("GOGC=%d", GCPercent))
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		limit := int64(float64(MemoryLimit(os.ReadFile)) * MemoryLimitShare)
		if planned > 0 && (limit <= 0 || planned < limit) {
			limit = planned
		}
		if limit > 0 {
			debug.SetMemoryLimit(limit)
			set = append(set, fmt.Sprintf("GOMEMLIMIT=%dMiB", limit>>20))
		}
	}
	return strings.Join(set, " ")
}

// BaseMemory is what a node's Go heap holds besides its response cache
// (raft, LiteFS, connections, requests in flight), with room for the
// collector to work: measured live heap without cache 20-40 MiB.
const BaseMemory = 192 << 20

// PlannedMemory is the Go memory limit a node's settings call for: the
// base, plus the response cache budget twice over (what the cache holds,
// and room for the garbage a busy cache makes before the collector runs).
func PlannedMemory(cacheBytes int64) int64 {
	if cacheBytes < 0 {
		cacheBytes = 0
	}
	return BaseMemory + 2*cacheBytes
}

// MemoryLimit is the memory this process may use, in bytes: the smallest of
// the cgroup's limit (v2 memory.max, v1 memory.limit_in_bytes) and the
// machine's MemTotal; 0 when none can be read.
func MemoryLimit(read func(string) ([]byte, error)) int64 {
	var limit int64
	consider := func(n int64) {
		if n > 0 && n < 1<<60 && (limit == 0 || n < limit) {
			limit = n
		}
	}
	for _, path := range cgroupLimitFiles(read) {
		if b, err := read(path); err == nil {
			if n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil {
				consider(n) // "max" and huge values mean no limit
			}
		}
	}
	if b, err := read("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "MemTotal:" && f[2] == "kB" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					consider(kb << 10)
				}
			}
		}
	}
	return limit
}

// cgroupLimitFiles lists the memory limit files that apply to this
// process: those of its own cgroup (from /proc/self/cgroup, v2 and v1)
// and of every cgroup above it, up to the root (inside a container the
// root is the container's own).
func cgroupLimitFiles(read func(string) ([]byte, error)) []string {
	files := []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}
	b, err := read("/proc/self/cgroup")
	if err != nil {
		return files
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || !strings.HasPrefix(f[2], "/") {
			continue
		}
		var dirs []string
		switch {
		case f[0] == "0" && f[1] == "": // v2 (unified, or the unified part of a hybrid)
			dirs = []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}
		case slices.Contains(strings.Split(f[1], ","), "memory"): // v1
			dirs = []string{"/sys/fs/cgroup/memory"}
		default:
			continue
		}
		for p := path.Clean(f[2]); p != "/"; p = path.Dir(p) {
			for _, d := range dirs {
				if d == "/sys/fs/cgroup/memory" {
					files = append(files, d+p+"/memory.limit_in_bytes")
				} else {
					files = append(files, d+p+"/memory.max")
				}
			}
		}
	}
	return files
}

package tablecast

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
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
// nothing).
func TuneGC() string {
	var set []string
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
		set = append(set, fmt.Sprintf("GOGC=%d", GCPercent))
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if total := MemoryLimit(os.ReadFile); total > 0 {
			limit := int64(float64(total) * MemoryLimitShare)
			debug.SetMemoryLimit(limit)
			set = append(set, fmt.Sprintf("GOMEMLIMIT=%dMiB", limit>>20))
		}
	}
	return strings.Join(set, " ")
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
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
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

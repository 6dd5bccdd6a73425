package tablecast

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestTuneProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(before)
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS")
	if n, set := TuneProcs(); !set || n != before+1 || runtime.GOMAXPROCS(0) != before+1 {
		t.Fatalf("unset: %d, %v; GOMAXPROCS %d, want %d", n, set, runtime.GOMAXPROCS(0), before+1)
	}
	runtime.GOMAXPROCS(before)
	t.Setenv("GOMAXPROCS", "3")
	if _, set := TuneProcs(); set || runtime.GOMAXPROCS(0) != before {
		t.Fatalf("GOMAXPROCS set by the operator was overridden: %d", runtime.GOMAXPROCS(0))
	}
}

func TestMemoryLimit(t *testing.T) {
	meminfo := "MemTotal:       24684092 kB\nMemFree:  100 kB\n"
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if v, ok := m[p]; ok {
				return []byte(v), nil
			}
			return nil, os.ErrNotExist
		}
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"machine only", map[string]string{"/proc/meminfo": meminfo}, 24684092 << 10},
		{"cgroup v2 limit", map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "268435456\n"}, 256 << 20},
		{"cgroup v2 unlimited", map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "max\n"}, 24684092 << 10},
		{"cgroup v1 unlimited", map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 24684092 << 10},
		{"cgroup v1 limit", map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory/memory.limit_in_bytes": "536870912"}, 512 << 20},
		{"cgroup v1, own group limited", map[string]string{"/proc/meminfo": meminfo,
			"/proc/self/cgroup":                                     "9:name=systemd:/\n4:memory:/soak/node\n0::/\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes":           "9223372036854771712\n",
			"/sys/fs/cgroup/memory/soak/node/memory.limit_in_bytes": "536870912\n",
			"/sys/fs/cgroup/memory/soak/memory.limit_in_bytes":      "1073741824\n"}, 512 << 20},
		{"cgroup v1, parent limited", map[string]string{"/proc/meminfo": meminfo,
			"/proc/self/cgroup": "4:cpu,memory:/soak/node\n",
			"/sys/fs/cgroup/memory/soak/node/memory.limit_in_bytes": "9223372036854771712\n",
			"/sys/fs/cgroup/memory/soak/memory.limit_in_bytes":      "268435456\n"}, 256 << 20},
		{"cgroup v2, own group limited", map[string]string{"/proc/meminfo": meminfo,
			"/proc/self/cgroup":         "0::/system.slice/tablecast.service\n",
			"/sys/fs/cgroup/memory.max": "max\n",
			"/sys/fs/cgroup/system.slice/tablecast.service/memory.max": "402653184\n"}, 384 << 20},
		{"nothing readable", map[string]string{}, 0},
		{"garbage", map[string]string{"/proc/meminfo": "MemTotal: lots kB\n", "/sys/fs/cgroup/memory.max": "-1"}, 0},
	} {
		if got := MemoryLimit(files(tc.files)); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	os.Unsetenv("GOGC")
	os.Unsetenv("GOMEMLIMIT")
	set := TuneGC(0)
	if got := debug.SetGCPercent(-1); got != GCPercent {
		t.Fatalf("GC percent %d, want %d (said %q)", got, GCPercent, set)
	}
	debug.SetGCPercent(100)
	if lim := debug.SetMemoryLimit(-1); lim <= 0 || lim == math.MaxInt64 || !strings.Contains(set, "GOMEMLIMIT=") {
		t.Fatalf("memory limit %d (said %q)", lim, set)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	if TuneGC(300 << 20); debug.SetMemoryLimit(-1) != 300<<20 {
		t.Fatalf("planned memory not applied: limit %d", debug.SetMemoryLimit(-1))
	}
	debug.SetGCPercent(100)
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetMemoryLimit(math.MaxInt64)
	if set := TuneGC(300 << 20); set != "" || debug.SetGCPercent(-1) != 100 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Fatalf("settings from the environment overridden (said %q)", set)
	}
}

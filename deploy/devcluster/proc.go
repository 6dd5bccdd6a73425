package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tablecast/tablecast/fsmount"
)

// FreePort picks a free loopback port. Raft addresses are fixed so that a
// restarted node keeps its place in the raft configuration.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WaitAddrFile polls for a node's addr file until timeout, or until exited
// closes (the node stopped before serving).
func WaitAddrFile(ctx context.Context, path string, exited <-chan struct{}, timeout time.Duration) (AddrFile, error) {
	deadline := time.After(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return ReadAddrFile(path)
		}
		select {
		case <-ctx.Done():
			return AddrFile{}, ctx.Err()
		case <-exited:
			return AddrFile{}, errors.New("node exited before serving")
		case <-deadline:
			return AddrFile{}, fmt.Errorf("node not serving after %s", timeout)
		case <-tick.C:
		}
	}
}

// WaitStatus polls url until it answers want, or the timeout passes.
func WaitStatus(ctx context.Context, url string, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := 0
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if last = resp.StatusCode; last == want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("GET %s: status %d, want %d after %s", url, last, want, timeout)
}

// IsMounted reports whether dir is a mount point in /proc/mounts.
func IsMounted(dir string) bool {
	for _, f := range mounts() {
		if f[1] == dir {
			return true
		}
	}
	return false
}

// MountsUnder lists the FUSE mount points at or under dir.
func MountsUnder(dir string) []string {
	var out []string
	for _, f := range mounts() {
		if strings.HasPrefix(f[2], "fuse") && (f[1] == dir || strings.HasPrefix(f[1], dir+"/")) {
			out = append(out, f[1])
		}
	}
	return out
}

// mounts is /proc/mounts, each line split in fields (at least 3).
func mounts() [][]string {
	b, _ := os.ReadFile("/proc/mounts")
	var out [][]string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 2 {
			out = append(out, f)
		}
	}
	return out
}

// Kill sends SIGKILL to node n, then reaps it (see Reap).
func Kill(ctx context.Context, n ClusterNode, timeout time.Duration) error {
	if err := syscall.Kill(n.PID, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", n.Name, err)
	}
	return Reap(ctx, n, timeout)
}

// Reap aborts the FUSE connection of a node sent SIGKILL, without which
// the process cannot finish dying (its own threads wait on its own
// mount), and waits until it is gone.
func Reap(ctx context.Context, n ClusterNode, timeout time.Duration) error {
	if err := fsmount.AbortFUSE(n.FUSEDir); err != nil {
		return fmt.Errorf("abort %s's FUSE: %w", n.Name, err)
	}
	if err := WaitGone(ctx, n.PID, timeout); err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	return nil
}

// WaitGone waits until pid has exited: no such process, or a zombie with
// no thread left.
func WaitGone(ctx context.Context, pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !Gone(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pid %d still alive %s after SIGKILL", pid, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// Gone reports whether pid has exited: no such process, or a zombie with
// no thread left.
func Gone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return true
	}
	s := string(b)
	return strings.Contains(s, "\nState:\tZ") && strings.Contains(s, "\nThreads:\t1\n")
}

// Killed reports whether pid has a SIGKILL pending that it cannot act on
// (a thread stuck in the kernel) or is already a zombie.
func Killed(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "State":
			if strings.HasPrefix(v, "Z") {
				return true
			}
		case "ShdPnd", "SigPnd":
			if mask, err := strconv.ParseUint(v, 16, 64); err == nil && mask&(1<<(uint(syscall.SIGKILL)-1)) != 0 {
				return true
			}
		}
	}
	return false
}

// Tail is the last n lines of b.
func Tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

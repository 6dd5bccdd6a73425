package fsmount

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

const fuseConnections = "/sys/fs/fuse/connections"

// ErrNotMounted is returned by AbortFUSE for a folder with no FUSE mount.
var ErrNotMounted = errors.New("no fuse mount there")

// AbortFUSE aborts the FUSE connection mounted at dir and detaches the
// mount. A LiteFS node killed with SIGKILL cannot finish dying while its
// own threads wait on its own FUSE mount; aborting the connection ends
// them, and a restarted node can mount the folder again.
func AbortFUSE(dir string) error {
	dev, err := fuseDevice(dir)
	if err != nil {
		return err
	}
	if err := ensureFuseCtl(); err != nil {
		return err
	}
	minor := dev[strings.IndexByte(dev, ':')+1:]
	if err := os.WriteFile(filepath.Join(fuseConnections, minor, "abort"), []byte("1"), 0o200); err != nil {
		return fmt.Errorf("abort fuse connection %s: %w", dev, err)
	}
	if out, err := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("unmount %s: %w: %s", dir, err, out)
	}
	return nil
}

// fuseDevice finds dir's FUSE mount in /proc/self/mountinfo and returns its
// device ("0:43"). It never stats dir: that would hang on a dead mount.
func fuseDevice(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := indexOf(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) || fields[4] != abs {
			continue
		}
		if strings.HasPrefix(fields[sep+1], "fuse") {
			return fields[2], nil
		}
	}
	return "", fmt.Errorf("%s: %w", abs, ErrNotMounted)
}

// ensureFuseCtl mounts the fusectl file system if it is not there yet.
func ensureFuseCtl() error {
	if entries, err := os.ReadDir(fuseConnections); err == nil && len(entries) > 0 {
		return nil
	}
	err := syscall.Mount("fusectl", fuseConnections, "fusectl", 0, "")
	if err != nil && !errors.Is(err, syscall.EBUSY) {
		return fmt.Errorf("mount fusectl: %w", err)
	}
	return nil
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

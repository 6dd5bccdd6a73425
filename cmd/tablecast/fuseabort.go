package main

import (
	"errors"
	"flag"
	"fmt"

	"github.com/tablecast/tablecast/fsmount"
)

// runFUSEAbort: `tablecast fuse-abort DIR` aborts the FUSE connection
// mounted at DIR and detaches the mount. A node killed with SIGKILL cannot
// finish dying while its own threads wait on its own FUSE mount; this ends
// them (systemd's ExecStopPost runs it). A folder with no FUSE mount is
// fine: it says so and succeeds. Never run it against a live node's mount.
func runFUSEAbort(args []string) error {
	fs := flag.NewFlagSet("fuse-abort", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: tablecast fuse-abort DIR   abort a dead node's FUSE mount at DIR (fuse.dir)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("fuse-abort: one folder expected")
	}
	dir := fs.Arg(0)
	switch err := fsmount.AbortFUSE(dir); {
	case errors.Is(err, fsmount.ErrNotMounted):
		fmt.Printf("fuse-abort: no fuse mount at %s\n", dir)
		return nil
	case err != nil:
		return fmt.Errorf("fuse-abort: %w", err)
	}
	fmt.Printf("fuse-abort: aborted and detached the fuse mount at %s\n", dir)
	return nil
}

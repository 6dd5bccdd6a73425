package devcluster

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRegions are the regions of MustStart's cluster unless set.
var TestRegions = []string{"lhr", "syd", "sjc"}

// logTailLines of each node's log are printed when a test fails.
const logTailLines = 25

// MustStart starts a cluster of bin for a test (a primary and two
// replicas unless set changes o), under the test's temp folder, and stops
// it when the test ends, failing the test if a FUSE mount is left. Node
// logs go to a file per node; they are printed (a tail) only if the test
// fails, after its own lines, and copied where they outlive the test.
func MustStart(tb testing.TB, bin string, set func(o *Options)) *Cluster {
	tb.Helper()
	c := New(Options{Bin: bin, Dir: tb.TempDir(), Regions: TestRegions})
	if set != nil {
		set(&c.Options)
	}
	tb.Cleanup(func() {
		c.Stop()
		c.checkRaceReports(tb)
		for _, n := range c.Nodes {
			if IsMounted(n.FUSEDir) {
				tb.Errorf("%s still mounted after stop", n.FUSEDir)
			}
		}
	})
	tb.Cleanup(func() {
		if tb.Failed() {
			c.LogTails(tb, logTailLines)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	return c
}

// raceReport is how the race detector starts each report in a node's log.
var raceReport = []byte("WARNING: DATA RACE")

// checkRaceReports fails tb for each node whose log holds a report of the
// race detector (nodes built with -race): a race in a node otherwise only
// changes its exit code, which a stopped node's test does not see.
func (c *Cluster) checkRaceReports(tb testing.TB) {
	tb.Helper()
	for _, n := range c.Nodes {
		b, err := os.ReadFile(n.Log)
		if err != nil {
			continue
		}
		if i := bytes.Index(b, raceReport); i >= 0 {
			tb.Errorf("%s: the race detector reported a data race (log: %s):\n%s", n.Name, n.Log, b[i:min(len(b), i+8000)])
		}
	}
}

// LogTails logs the last lines of every node's log, and copies the logs
// out of the test's temp folder (removed when the test ends).
func (c *Cluster) LogTails(tb testing.TB, lines int) {
	tb.Helper()
	keep, err := os.MkdirTemp("", "tablecast-logs-")
	if err != nil {
		keep = ""
	}
	entries, _ := os.ReadDir(c.Dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(c.Dir, e.Name(), "node.log"))
		if err != nil {
			continue
		}
		if keep != "" {
			_ = os.WriteFile(filepath.Join(keep, e.Name()+".log"), b, 0o644)
		}
		tb.Logf("--- node %s, last %d lines of its log:\n%s", e.Name(), lines, Tail(b, lines))
	}
	if keep != "" {
		tb.Logf("--- the nodes' whole logs are kept in %s", keep)
	}
}

// WaitFor polls url until it answers want, failing after timeout; it
// returns how long that took.
func WaitFor(tb testing.TB, url string, want int, timeout time.Duration) time.Duration {
	tb.Helper()
	start := time.Now()
	if err := WaitStatus(context.Background(), url, want, timeout); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// MustKill SIGKILLs node n, aborts its FUSE connection and waits until it
// is gone (10 s at most).
func MustKill(tb testing.TB, n ClusterNode) {
	tb.Helper()
	if err := Kill(context.Background(), n, 10*time.Second); err != nil {
		tb.Fatal(err)
	}
}

// MustWaitVoters waits (30 s at most) until /-/cluster.json of the node at
// base shows n ready raft voters.
func MustWaitVoters(tb testing.TB, c *Cluster, base string, n int) {
	tb.Helper()
	if _, err := c.WaitVoters(context.Background(), base, n, 30*time.Second); err != nil {
		tb.Fatal(err)
	}
}

package main

import (
	"bytes"
	"os"
	"testing"
)

// raceReport is how the race detector starts each report in a node's log.
var raceReport = []byte("WARNING: DATA RACE")

// checkRaceReports fails tb for each node whose log holds a report of the
// race detector (nodes built with -race, see raceBuild): a race in a node
// otherwise only changes its exit code, which a stopped node's test does
// not see.
func checkRaceReports(tb testing.TB, c *devCluster) {
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

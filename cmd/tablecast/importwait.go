package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/primary"
)

// DefaultImportCLIWait is how long `tablecast import` waits, beyond the
// primary's answer, for every node to apply the import (-wait).
const DefaultImportCLIWait = 10 * time.Minute

// applyWait is `tablecast import -wait`: it asks /-/cluster.json of a node
// until every node, reachable or not, reports db at txid or later (the
// rule of the admin page's "Applied?", primary.AppliedOn).
type applyWait struct {
	client   *http.Client
	base     string // API URL of any node (the one the import went to)
	token    string // admin
	db       string
	txid     tablecast.TXID
	interval time.Duration // between two questions (a second)
	out      io.Writer     // one line per node as it applies the import
}

// errNotApplied is the error of a wait that ran out.
var errNotApplied = errors.New("not applied on every node")

// run waits up to wait. seen holds the nodes known to have applied the
// import already (the primary's answer): the others are printed as they
// apply it, then "applied on every node (N)". When wait runs out it
// prints the nodes that lack it and returns an error wrapping
// errNotApplied.
func (a *applyWait) run(ctx context.Context, wait time.Duration, seen map[string]bool) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	url := strings.TrimSuffix(a.base, "/") + "/-/cluster.json"
	tick := time.NewTicker(a.interval)
	defer tick.Stop()
	var (
		last    []primary.AppliedNode // the last answer's nodes
		lastErr string                // the last question's error, "" when it was answered
	)
	for {
		var st tablecast.ClusterStatus
		err := callInto(wctx, a.client, http.MethodGet, url, a.token, nil, &st)
		switch {
		case err == nil:
			nodes, done := primary.AppliedOn(primary.NodeStatesOf(st), a.db, a.txid)
			for _, n := range nodes {
				if n.State == primary.AppliedState && !seen[n.Name] {
					seen[n.Name] = true
					fmt.Fprintf(a.out, "  applied on %s (%s): TXID %s\n", n.Name, n.Region, n.TXID)
				}
			}
			if done {
				fmt.Fprintf(a.out, "applied on every node (%d)\n", len(nodes))
				return nil
			}
			last, lastErr = nodes, ""
		case wctx.Err() == nil && err.Error() != lastErr:
			// Said once, not every second; the wait goes on.
			lastErr = err.Error()
			fmt.Fprintf(a.out, "  (cannot ask %s: %s; still waiting)\n", url, lastErr)
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("import: %s is imported (TXID %s); stopped waiting for the replicas: %w", a.db, a.txid, ctx.Err())
			}
			return a.timedOut(wait, last, lastErr)
		case <-tick.C:
		}
	}
}

// timedOut prints the nodes that lack the import and makes the error.
func (a *applyWait) timedOut(wait time.Duration, last []primary.AppliedNode, lastErr string) error {
	fmt.Fprintf(a.out, "NOT applied on every node within -wait %s (the import itself is done: TXID %s):\n", wait, a.txid)
	var lacking []string
	for _, n := range last {
		if n.State != primary.AppliedState {
			lacking = append(lacking, n.Name)
			line := fmt.Sprintf("  %s (%s): %s", n.Name, n.Region, n.State)
			for _, s := range []string{n.TXID, n.Error} {
				if s != "" {
					line += " " + s
				}
			}
			fmt.Fprintln(a.out, line)
		}
	}
	switch {
	case lastErr != "":
		fmt.Fprintf(a.out, "  last question to the cluster: %s\n", lastErr)
	case last == nil:
		fmt.Fprintln(a.out, "  the cluster did not answer within the wait")
	}
	what := "lacking " + strings.Join(lacking, ", ")
	if last == nil {
		what = "no answer from the cluster"
		if lastErr != "" {
			what += ": " + lastErr
		}
	}
	return fmt.Errorf("import: %s is imported (TXID %s), but %w within -wait %s (%s); follow it with tablecast cluster status",
		a.db, a.txid, errNotApplied, wait, what)
}

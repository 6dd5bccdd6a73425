package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tablecast/tablecast"
)

// operatorFlags are the flags of the operator's sub-commands.
func operatorFlags(name string) (*flag.FlagSet, *string, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	u := fs.String("url", envOr("TABLECAST_URL", "http://127.0.0.1:8080"), "API URL of any node (env TABLECAST_URL)")
	tok := fs.String("token", os.Getenv("TABLECAST_TOKEN"), "token secret (env TABLECAST_TOKEN)")
	return fs, u, tok
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// runCluster: `tablecast cluster status|remove NODE|forget-synced [DB]`.
func runCluster(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: tablecast cluster status | tablecast cluster remove NODE | tablecast cluster forget-synced [DB]")
	}
	fs, u, tok := operatorFlags("cluster " + args[0])
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "status":
		var st tablecast.ClusterStatus
		if err := callInto(ctx, cliClient, http.MethodGet, strings.TrimSuffix(*u, "/")+"/-/cluster.json", *tok, nil, &st); err != nil {
			return err
		}
		printClusterStatus(st)
		return nil
	case "remove":
		if fs.NArg() != 1 {
			return fmt.Errorf("usage: tablecast cluster remove [-url URL] NODE")
		}
		_, err := callJSON(ctx, cliClient, http.MethodPost, strings.TrimSuffix(*u, "/")+"/-/cluster/remove", *tok, map[string]string{"node": fs.Arg(0)})
		if err == nil {
			fmt.Printf("removed %s\n", fs.Arg(0))
		}
		return err
	case "forget-synced":
		// No primary while no candidate has the last synced positions; this
		// lets one that lacks them lead, losing the writes it lacks.
		out, err := callJSON(ctx, cliClient, http.MethodPost, strings.TrimSuffix(*u, "/")+"/-/cluster/forget-synced", *tok, map[string]string{"db": fs.Arg(0)})
		if err == nil {
			fmt.Printf("forgot synced positions: %v\n", out["forgot"])
		}
		return err
	}
	return fmt.Errorf("unknown cluster command %q", args[0])
}

// runPrimary: `tablecast primary handoff [NODE]`.
func runPrimary(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "handoff" {
		return fmt.Errorf("usage: tablecast primary handoff [-url URL] [NODE]")
	}
	fs, u, tok := operatorFlags("primary handoff")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	out, err := callJSON(ctx, cliClient, http.MethodPost, strings.TrimSuffix(*u, "/")+"/-/cluster/handoff", *tok, map[string]string{"node": fs.Arg(0)})
	if err != nil {
		return err
	}
	fmt.Printf("primary handed off from %v to %v\n", out["from"], out["to"])
	return nil
}

func printClusterStatus(st tablecast.ClusterStatus) {
	fmt.Printf("lease: %s   raft leader: %s\n\n", st.Lease, st.Leader)
	tw := tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tREGION\tROLE\tRAFT\tREADY\tLAG\tLAST CONTACT\tTXIDS\tAPI")
	for _, r := range st.Nodes {
		if r.Reported == nil { // it did not answer: only what the cluster knows
			fmt.Fprintf(tw, "%s\t%s\t-\t%s\tunreachable\t-\t-\t-\t%s\n", r.Name, r.Region, r.Raft, r.APIURL)
			continue
		}
		ready := fmt.Sprint(r.Ready)
		if r.NotReady != "" {
			ready = "no: " + r.NotReady
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%dms\t%s\t%s\t%s\n", r.Name, r.Region, r.Role, r.Raft, ready,
			r.LagMS, r.LastContact, formatTXIDs(r.TXIDs), r.APIURL)
	}
	tw.Flush()
}

func formatTXIDs(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%s", k, strings.TrimLeft(m[k], "0"))
	}
	return strings.Join(parts, " ")
}

// cliClient is the operator commands' client of the public API: bounded,
// so that a node that accepts and never answers does not hang the command.
var cliClient = &http.Client{Timeout: time.Minute}

package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
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
		out, err := callJSON(ctx, cliClient, http.MethodGet, strings.TrimSuffix(*u, "/")+"/-/cluster.json", *tok, nil)
		if err != nil {
			return err
		}
		printClusterStatus(out)
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

func printClusterStatus(out map[string]any) {
	fmt.Printf("lease: %v   raft leader: %v\n\n", out["lease"], out["leader"])
	tw := tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tREGION\tROLE\tRAFT\tREADY\tLAG\tLAST CONTACT\tTXIDS\tAPI")
	nodes, _ := out["nodes"].([]any)
	for _, n := range nodes {
		r, _ := n.(map[string]any)
		ready := fmt.Sprint(r["ready"])
		if r["reachable"] == false {
			ready = "unreachable"
		} else if nr, _ := r["not_ready"].(string); nr != "" {
			ready = "no: " + nr
		}
		fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%s\t%vms\t%v\t%s\t%v\n", r["name"], r["region"], r["role"], r["raft"], ready,
			r["lag_ms"], r["last_contact"], formatTXIDs(r["txids"]), r["api_url"])
	}
	tw.Flush()
}

func formatTXIDs(v any) string {
	m, _ := v.(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%v", k, strings.TrimLeft(fmt.Sprint(m[k]), "0"))
	}
	return strings.Join(parts, " ")
}

// cliClient is the operator commands' client of the public API: bounded,
// so that a node that accepts and never answers does not hang the command.
var cliClient = &http.Client{Timeout: time.Minute}

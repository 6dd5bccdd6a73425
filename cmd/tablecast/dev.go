package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// devRegions names the local cluster's nodes: the first is the primary.
var devRegions = []string{"lhr", "syd", "sjc"}

func runDev(ctx context.Context, args []string) error {
	o, err := devOptions(args)
	if err != nil {
		return err
	}
	c := devcluster.New(o)
	defer c.Stop()
	if err := c.Start(ctx); err != nil {
		return err
	}
	if err := c.LoadSample(ctx); err != nil {
		return fmt.Errorf("load sample data: %w", err)
	}
	if err := c.WaitReplicas(ctx, "/demo/cities.json"); err != nil {
		return err
	}
	printTryURLs(c)
	go c.ReapKilled(ctx)
	// A node that dies is reported, not fatal: killing the primary to watch
	// the failover is one of the things to try here.
	for alive := len(c.Nodes); alive > 0; alive-- {
		select {
		case <-ctx.Done():
			fmt.Println("\nstopping the cluster…")
			return nil
		case err := <-c.Exited():
			fmt.Fprintln(os.Stderr, "tablecast dev:", err)
		}
	}
	return errors.New("every node exited")
}

// devOptions reads `tablecast dev`'s flags: the cluster to run, of this
// very binary.
func devOptions(args []string) (devcluster.Options, error) {
	var o devcluster.Options
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dir := fs.String("dir", "tablecast-dev", "working folder for the nodes' data, mounts and logs")
	delays := fs.String("delay", "", "simulated one-way distance of replica regions from the primary, e.g. syd=150ms,sjc=40ms")
	bench := fs.Bool("bench", false, "benchmarks only: each node also serves reads with the gate or cache off on a loopback port (bench_url in cluster.json)")
	regionList := fs.String("regions", strings.Join(devRegions, ","), "the cluster's regions, the primary's first: one node in each, and the candidates in the first")
	candidates := fs.Int("candidates", 3, "raft: how many nodes of the first region can become primary (1 to 5)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	regions, err := parseRegions(*regionList)
	if err != nil {
		return o, err
	}
	if *candidates < 1 || *candidates > 5 {
		return o, fmt.Errorf("-candidates: %d: want 1 to 5", *candidates)
	}
	bin, err := os.Executable()
	if err != nil {
		return o, fmt.Errorf("find own binary: %w", err)
	}
	d, err := parseDelays(*delays)
	if err != nil {
		return o, err
	}
	lease := "raft"
	if len(d) > 0 {
		lease = "static"
	}
	for region := range d {
		if !slices.Contains(regions[1:], region) {
			return o, fmt.Errorf("-delay: %q is not one of the replica regions %v", region, regions[1:])
		}
	}
	return devcluster.Options{Bin: bin, Dir: *dir, Regions: regions, Bench: *bench, Delays: d, Lease: lease, Candidates: *candidates, Logger: slog.Default()}, nil
}

// parseRegions reads -regions: distinct region names, at least one.
func parseRegions(list string) ([]string, error) {
	var regions []string
	for _, r := range strings.Split(list, ",") {
		r = strings.TrimSpace(r)
		if !regionName.MatchString(r) {
			return nil, fmt.Errorf("-regions: %q is not a region name (lower-case letters and digits, like lhr or us-east)", r)
		}
		if slices.Contains(regions, r) {
			return nil, fmt.Errorf("-regions: %q is named twice", r)
		}
		regions = append(regions, r)
	}
	return regions, nil
}

var regionName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// parseDelays parses "syd=150ms,sjc=40ms".
func parseDelays(s string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		region, v, ok := strings.Cut(part, "=")
		d, err := time.ParseDuration(v)
		if !ok || err != nil || d < 0 {
			return nil, fmt.Errorf("-delay: %q is not region=duration", part)
		}
		out[region] = d
	}
	return out, nil
}

// printTryURLs prints the cluster's nodes and what to try on them.
func printTryURLs(c *devcluster.Cluster) {
	p, r := c.Nodes[0], c.Nodes[len(c.Nodes)-1]
	for _, n := range c.Nodes {
		if !n.Candidate {
			r = n
			break
		}
	}
	fmt.Printf("\ntablecast dev cluster is up (%s/cluster.json)\n\n", c.Dir)
	for _, n := range c.Nodes {
		role := n.Role
		if n.Candidate && role != "primary" {
			role = "candidate"
		}
		fmt.Printf("  %-8s %-9s %-4s %s   pid %-7d (log %s)\n", n.Name, role, n.Region, n.APIURL, n.PID, n.Log)
	}
	fmt.Printf(`
Try (on the replica %[4]s):
  curl %[1]s/.json                      # databases with public tables
  curl %[1]s/demo.json                  # public tables of demo
  curl %[1]s/demo/cities.json           # a public table, read on a replica
  curl %[1]s/demo/cities/1.json         # one row
  curl %[1]s/demo/customers.json        # private: 404, same as a missing table
  open %[1]s/demo/cities                # the HTML page
  curl -X POST -H 'Authorization: Bearer %[3]s' %[1]s/demo/customers/-/publish
  curl -X POST -H 'Authorization: Bearer %[3]s' -d '{"row":{"name":"Oslo","country":"NO","population":709037}}' %[1]s/demo/cities/-/insert
       (writes sent to any node are forwarded to the primary)
  open %[2]s/-/admin                    # admin pages: sign in with the token
  tablecast cluster status -url %[1]s -token %[3]s
  kill -9 %[5]d                         # kill the primary; a candidate takes over in ~1.5 s

Ctrl-C stops every node and unmounts every FUSE folder.
`, r.APIURL, p.APIURL, c.Token, r.Name, p.PID)
}

// Package devcluster runs a local tablecast cluster: a primary, raft
// candidates and replicas as child processes of the tablecast binary, on
// real LiteFS and FUSE, each with its own data and FUSE folders. It is the
// one harness behind `tablecast dev`, the end-to-end tests and bench/.
package devcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tablecast/tablecast/fsmount"
	"github.com/tablecast/tablecast/primary"
)

// Options configure a cluster before Start.
type Options struct {
	Bin     string   // the tablecast binary the nodes run
	Dir     string   // working folder: one folder per node, cluster.json, tls/
	Regions []string // first is the primary's
	Bench   bool     // pass -bench-addr to every node
	// Delays puts a replica region this far (one way) from the primary: its
	// LiteFS stream and its forwarded requests go through a DelayProxy.
	Delays map[string]time.Duration
	// Lease is "raft" or "static" ("": static with Delays, raft without).
	Lease      string
	Candidates int    // raft: candidate nodes in the first region
	WriteMode  string // tablecast.write-mode of every node ("" = default)
	StaleReads string // tablecast.stale-reads of every node
	// RevocationBound is tablecast.revocation-bound of every node (0: default).
	RevocationBound time.Duration
	MinFree         int64 // tablecast.min-free-bytes of every node (0 = default)
	// ImportWait is tablecast.import-wait of every node (0: default).
	ImportWait time.Duration
	// Place, when set, may set a planned node's Host and Netns (tests that
	// put a node behind a link they cut).
	Place  func(n *ClusterNode)
	Logger *slog.Logger
}

// Cluster runs a primary and replicas as child processes on ":0" ports,
// each with its own data and FUSE folders under Dir.
type Cluster struct {
	Options

	Token string
	Nodes []ClusterNode

	proxies []*DelayProxy
	tlsDir  string // the cluster CA and the nodes' certificates
	procs   []*proc
	exited  chan error
}

// proc is one node process started here (a restart is a new one).
type proc struct {
	name, fuseDir string
	cmd           *exec.Cmd
	done          chan struct{}
}

// New returns a cluster with o, not started.
func New(o Options) *Cluster {
	return &Cluster{Options: o}
}

// Start launches the primary, then the replicas once the primary's URLs
// are known, and writes cluster.json.
func (c *Cluster) Start(ctx context.Context) error {
	if err := c.prepare(); err != nil {
		return err
	}
	plan, err := c.plan()
	if err != nil {
		return err
	}
	var prim AddrFile
	for i, n := range plan {
		up, err := c.upstream(n.Region, prim)
		if err != nil {
			return err
		}
		addr, err := c.startRetry(ctx, &n, up)
		if err != nil {
			return fmt.Errorf("start %s: %w", n.Name, err)
		}
		if i == 0 {
			prim = addr
		}
		c.Nodes = append(c.Nodes, n)
	}
	return c.writeClusterFile()
}

// prepare fills defaults, clears an earlier cluster from Dir and makes the
// token and the CA.
func (c *Cluster) prepare() error {
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return err
	}
	c.Dir = abs
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Lease == "" {
		c.Lease = "raft"
		if len(c.Delays) > 0 {
			c.Lease = "static"
		}
	}
	if c.Lease == "raft" && len(c.Delays) > 0 {
		return errors.New("simulated delays need the static lease for now")
	}
	// Room for every exit of a long run: a send never blocks (see watch).
	c.exited = make(chan error, 64)
	if err := c.clearEarlier(); err != nil {
		return err
	}
	if c.Token, err = primary.NewSecret(); err != nil {
		return err
	}
	return c.makeCA()
}

// Exited reports each node process that exits, with its error and log.
func (c *Cluster) Exited() <-chan error { return c.exited }

// clearEarlier removes what an earlier `tablecast dev` left in Dir: every
// run starts a fresh cluster (new ports, new tokens, the sample data), and
// a node folder kept from another run would hold raft state naming
// addresses nobody listens on any more. It refuses while that cluster still
// runs, and touches only folders holding a config `tablecast dev` wrote.
func (c *Cluster) clearEarlier() error {
	if err := c.refuseRunning(); err != nil {
		return err
	}
	entries, err := os.ReadDir(c.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read %s: %w", c.Dir, err)
	}
	cleared := 0
	for _, e := range entries {
		home := filepath.Join(c.Dir, e.Name())
		cfg, err := os.ReadFile(filepath.Join(home, "litefs.yml"))
		if !e.IsDir() || err != nil || !bytes.HasPrefix(cfg, []byte(configMark)) {
			continue
		}
		// A node killed hard may have left its FUSE mount behind: never
		// stat it (that hangs), abort it.
		if err := fsmount.AbortFUSE(filepath.Join(home, "fuse")); err != nil && !errors.Is(err, fsmount.ErrNotMounted) {
			return fmt.Errorf("clear the earlier cluster's mount: %w", err)
		}
		if err := os.RemoveAll(home); err != nil {
			return fmt.Errorf("clear the earlier cluster: %w", err)
		}
		cleared++
	}
	if cleared > 0 {
		_ = os.Remove(filepath.Join(c.Dir, "cluster.json"))
		c.Logger.Info("cleared the earlier dev cluster: every run starts a fresh one", "dir", c.Dir, "nodes", cleared)
	}
	return nil
}

// refuseRunning fails while a node of the cluster.json in Dir still runs:
// a live pid whose command line names the node or the folder.
func (c *Cluster) refuseRunning() error {
	var earlier ClusterFile
	if b, err := os.ReadFile(filepath.Join(c.Dir, "cluster.json")); err == nil {
		_ = json.Unmarshal(b, &earlier)
	}
	for _, n := range earlier.Nodes {
		if n.PID <= 0 || syscall.Kill(n.PID, 0) != nil {
			continue
		}
		if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", n.PID)); bytes.Contains(cmd, []byte(n.Name)) || bytes.Contains(cmd, []byte(c.Dir)) {
			return fmt.Errorf("a dev cluster is still running in %s (node %s, pid %d): stop it first, or pick another -dir", c.Dir, n.Name, n.PID)
		}
	}
	return nil
}

// plan names the nodes: with raft, Candidates nodes in the first region
// (the first bootstraps and is primary), then one replica per other region.
func (c *Cluster) plan() ([]ClusterNode, error) {
	candidates := 1
	if c.Lease == "raft" {
		candidates = max(c.Candidates, 1)
	}
	var plan []ClusterNode
	for i, region := range c.Regions {
		count := 1
		if i == 0 {
			count = candidates
		}
		for k := 1; k <= count; k++ {
			n := ClusterNode{Name: fmt.Sprintf("%s-%d", region, k), Region: region, Role: "replica", Candidate: i == 0}
			if len(plan) == 0 {
				n.Role = "primary"
			}
			if c.Place != nil {
				c.Place(&n)
			}
			if c.Lease == "raft" {
				port, err := FreePort()
				if err != nil {
					return nil, err
				}
				n.RaftAddr = net.JoinHostPort(n.host(), strconv.Itoa(port))
			}
			plan = append(plan, n)
		}
	}
	return plan, nil
}

// startRetry starts a node, picking another raft port when the one chosen
// was taken in the meantime (free ports are picked before the node binds).
func (c *Cluster) startRetry(ctx context.Context, n *ClusterNode, up AddrFile) (AddrFile, error) {
	for attempt := 1; ; attempt++ {
		addr, err := c.startNode(ctx, n, up)
		if err == nil || n.RaftAddr == "" || attempt == 3 {
			return addr, err
		}
		if b, _ := os.ReadFile(n.Log); !strings.Contains(string(b), "address already in use") {
			return addr, err
		}
		port, perr := FreePort()
		if perr != nil {
			return addr, err
		}
		n.RaftAddr = fmt.Sprintf("127.0.0.1:%d", port)
	}
}

// upstream is how a region reaches the primary: directly, or through delay
// proxies when the region is set at a distance.
func (c *Cluster) upstream(region string, prim AddrFile) (AddrFile, error) {
	d := c.Delays[region]
	if d == 0 || prim.APIURL == "" {
		return prim, nil
	}
	out := prim
	for _, u := range []*string{&out.APIURL, &out.NodeURL, &out.LiteFSURL} {
		// TCP proxies: TLS passes through them, end to end.
		scheme, target, _ := strings.Cut(*u, "://")
		p := &DelayProxy{Target: target, Delay: d}
		if err := p.Listen("127.0.0.1:0"); err != nil {
			return out, err
		}
		c.proxies = append(c.proxies, p)
		*u = scheme + "://" + p.Addr()
	}
	return out, nil
}

// Partition cuts (on) or heals every delay proxy between a distant region
// and the primary.
func (c *Cluster) Partition(on bool) {
	for _, p := range c.proxies {
		p.Partition(on)
	}
}

// Restart starts node i again with its folders; join is the node URL of a
// live node (raft) to rejoin through.
func (c *Cluster) Restart(ctx context.Context, i int, join string) error {
	n := c.Nodes[i]
	if _, err := c.startNode(ctx, &n, AddrFile{NodeURL: join}); err != nil {
		return fmt.Errorf("restart %s: %w", n.Name, err)
	}
	c.Nodes[i] = n
	return c.writeClusterFile()
}

// AddNode starts a new node in region that joins the running cluster
// through the primary, listening for its API on apiAddr ("" = any port).
// It returns once the node is ready.
func (c *Cluster) AddNode(ctx context.Context, region, apiAddr string, candidate bool) (ClusterNode, error) {
	return c.AddNodeVia(ctx, region, apiAddr, candidate, c.Nodes[0])
}

// AddNodeVia is AddNode joining through node via (the node URL of a live
// node; with the static lease, via must be the primary).
func (c *Cluster) AddNodeVia(ctx context.Context, region, apiAddr string, candidate bool, via ClusterNode) (ClusterNode, error) {
	k := 1 // numbered within its region, as Start numbers nodes
	for _, o := range c.Nodes {
		if o.Region == region {
			k++
		}
	}
	n := ClusterNode{Name: fmt.Sprintf("%s-%d", region, k), Region: region, Role: "replica", Candidate: candidate, APIAddr: apiAddr}
	port, err := FreePort()
	if err != nil {
		return n, err
	}
	n.RaftAddr = fmt.Sprintf("127.0.0.1:%d", port)
	if _, err := c.startNode(ctx, &n, AddrFile{APIURL: via.APIURL, NodeURL: via.NodeURL}); err != nil {
		return n, fmt.Errorf("add %s: %w", n.Name, err)
	}
	c.Nodes = append(c.Nodes, n)
	return n, c.writeClusterFile()
}

// Node is the first node of region.
func (c *Cluster) Node(region string) (ClusterNode, bool) {
	for _, n := range c.Nodes {
		if n.Region == region {
			return n, true
		}
	}
	return ClusterNode{}, false
}

// Replica is the first node that can never be primary: reads far from
// the primary are measured and tried there.
func (c *Cluster) Replica() ClusterNode {
	for _, n := range c.Nodes {
		if !n.Candidate {
			return n
		}
	}
	return c.Nodes[len(c.Nodes)-1]
}

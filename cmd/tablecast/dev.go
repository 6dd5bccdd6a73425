package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/tablecast/tablecast/fsmount"
	"github.com/tablecast/tablecast/nodetls"
	"github.com/tablecast/tablecast/primary"
)

// ClusterFile is cluster.json, written by `tablecast dev` for scripts and
// benchmarks.
type ClusterFile struct {
	Token string        `json:"token"`
	Nodes []ClusterNode `json:"nodes"`
}

// ClusterNode is one node of a local cluster.
type ClusterNode struct {
	Name      string `json:"name"`
	Region    string `json:"region"`
	Role      string `json:"role"`
	APIURL    string `json:"api_url"`
	NodeURL   string `json:"node_url"` // node-to-node API (mutual TLS)
	LiteFSURL string `json:"litefs_url"`
	PID       int    `json:"pid"`
	FUSEDir   string `json:"fuse_dir"`
	DataDir   string `json:"data_dir"`
	Log       string `json:"log"`
	Candidate bool   `json:"candidate"`           // may become primary (raft voter)
	RaftAddr  string `json:"raft_addr,omitempty"` // fixed, so restarts keep their place
	APIAddr   string `json:"-"`                   // listen address of the API ("" = any loopback port)
	// BenchURL serves reads with the gate or cache off (dev -bench only).
	BenchURL string `json:"bench_url,omitempty"`
	// Host is the IP every listener of the node binds ("" = 127.0.0.1).
	Host string `json:"host,omitempty"`
	// Netns runs the node in that network namespace (/run/netns/NAME,
	// entered with nsenter --net so that the FUSE mount stays visible).
	Netns string `json:"netns,omitempty"`
}

// host is the IP the node's listeners bind.
func (n ClusterNode) host() string {
	if n.Host == "" {
		return "127.0.0.1"
	}
	return n.Host
}

// devRegions names the local cluster's nodes: the first is the primary.
var devRegions = []string{"lhr", "syd", "sjc"}

func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dir := fs.String("dir", "tablecast-dev", "working folder for the nodes' data, mounts and logs")
	delays := fs.String("delay", "", "simulated one-way distance of replica regions from the primary, e.g. syd=150ms,sjc=40ms")
	bench := fs.Bool("bench", false, "benchmarks only: each node also serves reads with the gate or cache off on a loopback port (bench_url in cluster.json)")
	regionList := fs.String("regions", strings.Join(devRegions, ","), "the cluster's regions, the primary's first: one node in each, and the candidates in the first")
	candidates := fs.Int("candidates", 3, "raft: how many nodes of the first region can become primary (1 to 5)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	regions, err := parseRegions(*regionList)
	if err != nil {
		return err
	}
	if *candidates < 1 || *candidates > 5 {
		return fmt.Errorf("-candidates: %d: want 1 to 5", *candidates)
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	d, err := parseDelays(*delays)
	if err != nil {
		return err
	}
	lease := "raft"
	if len(d) > 0 {
		lease = "static"
	}
	for region := range d {
		if !slices.Contains(regions[1:], region) {
			return fmt.Errorf("-delay: %q is not one of the replica regions %v", region, regions[1:])
		}
	}
	c := &devCluster{Bin: bin, Dir: *dir, Regions: regions, Bench: *bench, Delays: d, Lease: lease, Candidates: *candidates, Logger: slog.Default()}
	defer c.Stop()
	if err := c.Start(ctx); err != nil {
		return err
	}
	if err := loadSample(ctx, c.Nodes[0].APIURL, c.Token); err != nil {
		return fmt.Errorf("load sample data: %w", err)
	}
	if err := c.waitReplicas(ctx, "/demo/cities.json"); err != nil {
		return err
	}
	printTryURLs(c)
	go c.reapKilled(ctx)
	// A node that dies is reported, not fatal: killing the primary to watch
	// the failover is one of the things to try here.
	for alive := len(c.Nodes); alive > 0; alive-- {
		select {
		case <-ctx.Done():
			fmt.Println("\nstopping the cluster…")
			return nil
		case err := <-c.exited:
			fmt.Fprintln(os.Stderr, "tablecast dev:", err)
		}
	}
	return errors.New("every node exited")
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

// devCluster runs a primary and replicas as child processes on ":0" ports,
// each with its own data and FUSE folders under Dir.
type devCluster struct {
	Bin     string
	Dir     string
	Regions []string // first is the primary
	Bench   bool     // pass -bench-addr to every node
	// Delays puts a replica region this far (one way) from the primary: its
	// LiteFS stream and its forwarded requests go through a DelayProxy.
	Delays     map[string]time.Duration
	Lease      string // "raft" (default) or "static"
	Candidates int    // raft: candidate nodes in the first region
	WriteMode  string // tablecast.write-mode of every node ("" = default)
	StaleReads string // tablecast.stale-reads of every node
	// RevocationBound is tablecast.revocation-bound of every node (0: default).
	RevocationBound time.Duration
	MinFree         int64 // tablecast.min-free-bytes of every node (0 = default)
	// Place, when set, may set a planned node's Host and Netns (tests that
	// put a node behind a link they cut).
	Place  func(n *ClusterNode)
	Logger *slog.Logger

	proxies []*DelayProxy
	tlsDir  string // the cluster CA and the nodes' certificates

	Token  string
	Nodes  []ClusterNode
	procs  []*exec.Cmd
	exited chan error
}

// Start launches the primary, then the replicas once the primary's URLs
// are known, and writes cluster.json.
func (c *devCluster) Start(ctx context.Context) error {
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return err
	}
	c.Dir = abs
	if err := c.clearEarlier(); err != nil {
		return err
	}
	if c.Token, err = primary.NewSecret(); err != nil {
		return err
	}
	if err := c.makeCA(); err != nil {
		return err
	}
	if c.Lease == "" {
		c.Lease = "raft"
	}
	if c.Lease == "raft" && len(c.Delays) > 0 {
		return errors.New("simulated delays need the static lease for now")
	}
	plan, err := c.plan()
	if err != nil {
		return err
	}
	c.exited = make(chan error, len(plan))
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

// clearEarlier removes what an earlier `tablecast dev` left in Dir: every
// run starts a fresh cluster (new ports, new tokens, the sample data), and
// a node folder kept from another run would hold raft state naming
// addresses nobody listens on any more. It refuses while that cluster still
// runs, and touches only folders holding a config `tablecast dev` wrote.
func (c *devCluster) clearEarlier() error {
	var earlier ClusterFile
	if b, err := os.ReadFile(filepath.Join(c.Dir, "cluster.json")); err == nil {
		_ = json.Unmarshal(b, &earlier)
	}
	for _, n := range earlier.Nodes {
		if n.PID > 0 && syscall.Kill(n.PID, 0) == nil {
			if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", n.PID)); bytes.Contains(cmd, []byte(n.Name)) || bytes.Contains(cmd, []byte(c.Dir)) {
				return fmt.Errorf("a dev cluster is still running in %s (node %s, pid %d): stop it first, or pick another -dir", c.Dir, n.Name, n.PID)
			}
		}
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
		if !e.IsDir() || err != nil || !bytes.HasPrefix(cfg, []byte("# written by tablecast dev")) {
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

// startRetry starts a node, picking another raft port when the one chosen
// was taken in the meantime (free ports are picked before the node binds).
func (c *devCluster) startRetry(ctx context.Context, n *ClusterNode, up AddrFile) (AddrFile, error) {
	for attempt := 1; ; attempt++ {
		addr, err := c.startNode(ctx, n, up)
		if err == nil || n.RaftAddr == "" || attempt == 3 {
			return addr, err
		}
		if b, _ := os.ReadFile(n.Log); !strings.Contains(string(b), "address already in use") {
			return addr, err
		}
		port, perr := freePort()
		if perr != nil {
			return addr, err
		}
		n.RaftAddr = fmt.Sprintf("127.0.0.1:%d", port)
	}
}

// plan names the nodes: with raft, Candidates nodes in the first region
// (the first bootstraps and is primary), then one replica per other region.
func (c *devCluster) plan() ([]ClusterNode, error) {
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
				port, err := freePort()
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

// freePort picks a free loopback port. Raft addresses are fixed so that a
// restarted node keeps its place in the raft configuration.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

var nodeConfig = template.Must(template.New("cfg").Parse(`# written by tablecast dev
fuse:
  dir: "{{.Node.FUSEDir}}"
data:
  dir: "{{.Node.DataDir}}"
http:
  addr: "{{.Host}}:0"
lease:
  type: {{.Lease}}
  candidate: {{.Node.Candidate}}
{{- if eq .Lease "static"}}
  hostname: "{{.PrimaryName}}"
{{- if .Primary.LiteFSURL}}
  advertise-url: "{{.Primary.LiteFSURL}}"
{{- end}}
{{- end}}
  reconnect-delay: 200ms
tablecast:
{{- if .WriteMode}}
  write-mode: "{{.WriteMode}}"
{{- end}}
{{- if .StaleReads}}
  stale-reads: "{{.StaleReads}}"
{{- end}}
{{- if .RevocationBound}}
  revocation-bound: "{{.RevocationBound}}"
{{- end}}
{{- if .MinFree}}
  min-free-bytes: {{.MinFree}}
{{- end}}
  name: "{{.Node.Name}}"
  region: "{{.Node.Region}}"
  addr: "{{if .Node.APIAddr}}{{.Node.APIAddr}}{{else}}{{.Host}}:0{{end}}"
  node-addr: "{{.Host}}:0"
  tls:
    ca: "{{.TLS.CA}}"
    cert: "{{.TLS.Cert}}"
    key: "{{.TLS.Key}}"
{{- if eq .Lease "raft"}}
  raft-addr: "{{.Node.RaftAddr}}"
  cluster-token: "${TABLECAST_DEV_TOKEN}"
{{- if .Primary.NodeURL}}
  join: "{{.Primary.NodeURL}}"
{{- end}}
{{- else if .Primary.APIURL}}
  primary-url: "{{.Primary.APIURL}}"
  primary-node-url: "{{.Primary.NodeURL}}"
{{- end}}
  tokens:
    - name: dev
      token: "${TABLECAST_DEV_TOKEN}"
`))

// startNode writes a node's config, starts it and waits for its addr file.
func (c *devCluster) startNode(ctx context.Context, n *ClusterNode, prim AddrFile) (AddrFile, error) {
	home := filepath.Join(c.Dir, n.Name)
	n.FUSEDir, n.DataDir, n.Log = filepath.Join(home, "fuse"), filepath.Join(home, "data"), filepath.Join(home, "node.log")
	cfgPath, addrPath := filepath.Join(home, "litefs.yml"), filepath.Join(home, "addr.json")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return AddrFile{}, err
	}
	_ = os.Remove(addrPath)
	tlsFiles, err := c.nodeCert(n.Name, n.host())
	if err != nil {
		return AddrFile{}, err
	}
	var buf bytes.Buffer
	if err := nodeConfig.Execute(&buf, map[string]any{"Node": n, "Primary": prim, "PrimaryName": c.Regions[0] + "-1",
		"WriteMode": c.WriteMode, "StaleReads": c.StaleReads, "Lease": c.Lease, "RevocationBound": c.RevocationBound, "MinFree": c.MinFree, "TLS": tlsFiles, "Host": n.host()}); err != nil {
		return AddrFile{}, err
	}
	if err := os.WriteFile(cfgPath, buf.Bytes(), 0o600); err != nil {
		return AddrFile{}, err
	}
	logf, err := os.OpenFile(n.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return AddrFile{}, err
	}
	defer logf.Close()
	args := []string{"serve", "-config", cfgPath, "-addr-file", addrPath}
	if c.Bench {
		args = append(args, "-bench-addr", "127.0.0.1:0")
	}
	cmd := exec.Command(c.Bin, args...)
	if n.Netns != "" {
		// nsenter execs the node in place: the PID is the node's.
		cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + n.Netns, "--", c.Bin}, args...)...)
	}
	cmd.Env = append(os.Environ(), "TABLECAST_DEV_TOKEN="+c.Token)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: Ctrl-C reaches only us, and we stop nodes in order;
	// Pdeathsig: the nodes stop if we die.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return AddrFile{}, err
	}
	c.procs = append(c.procs, cmd)
	n.PID = cmd.Process.Pid
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		close(done)
		c.exited <- fmt.Errorf("node %s exited: %v (log: %s)", n.Name, err, n.Log)
	}()
	addr, err := waitAddrFile(ctx, addrPath, done, 60*time.Second)
	if err != nil {
		return addr, fmt.Errorf("%w (log: %s)", err, n.Log)
	}
	n.APIURL, n.NodeURL, n.LiteFSURL, n.BenchURL = addr.APIURL, addr.NodeURL, addr.LiteFSURL, addr.BenchURL
	return addr, nil
}

// upstream is how a region reaches the primary: directly, or through delay
// proxies when the region is set at a distance.
func (c *devCluster) upstream(region string, prim AddrFile) (AddrFile, error) {
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

// reapKilled watches for nodes killed with SIGKILL: such a node cannot
// finish dying while a thread waiting on its own FUSE mount keeps the
// process (and its listening sockets) alive until the FUSE connection is
// aborted, which this does.
func (c *devCluster) reapKilled(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c.abortKilled()
	}
}

// abortKilled aborts the FUSE mount of every node killed with SIGKILL.
func (c *devCluster) abortKilled() {
	for _, n := range c.Nodes {
		if killed(n.PID) && isMounted(n.FUSEDir) {
			if err := fsmount.AbortFUSE(n.FUSEDir); err == nil {
				fmt.Fprintf(os.Stderr, "tablecast dev: %s was killed; aborted its FUSE mount\n", n.Name)
			}
		}
	}
}

// killed reports whether pid has a SIGKILL pending that it cannot act on
// (a thread stuck in the kernel) or is already a zombie.
func killed(pid int) bool {
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

// Restart starts node i again with its folders; join is the node URL of a
// live node (raft) to rejoin through.
func (c *devCluster) Restart(ctx context.Context, i int, join string) error {
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
func (c *devCluster) AddNode(ctx context.Context, region, apiAddr string, candidate bool) (ClusterNode, error) {
	n := ClusterNode{Name: fmt.Sprintf("%s-%d", region, len(c.Nodes)+1), Region: region, Role: "replica", Candidate: candidate, APIAddr: apiAddr}
	port, err := freePort()
	if err != nil {
		return n, err
	}
	n.RaftAddr = fmt.Sprintf("127.0.0.1:%d", port)
	if _, err := c.startNode(ctx, &n, AddrFile{APIURL: c.Nodes[0].APIURL, NodeURL: c.Nodes[0].NodeURL}); err != nil {
		return n, fmt.Errorf("add %s: %w", n.Name, err)
	}
	c.Nodes = append(c.Nodes, n)
	return n, c.writeClusterFile()
}

// waitAddrFile polls for a node's addr file until deadline or exit.
func waitAddrFile(ctx context.Context, path string, exited <-chan struct{}, timeout time.Duration) (AddrFile, error) {
	var a AddrFile
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			return a, json.Unmarshal(b, &a)
		}
		select {
		case <-ctx.Done():
			return a, ctx.Err()
		case <-exited:
			return a, errors.New("node exited before serving")
		case <-deadline:
			return a, fmt.Errorf("node not serving after %s", timeout)
		case <-tick.C:
		}
	}
}

func (c *devCluster) writeClusterFile() error {
	b, err := json.MarshalIndent(ClusterFile{Token: c.Token, Nodes: c.Nodes}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, "cluster.json"), b, 0o600)
}

// waitReplicas polls path on every replica until it answers 200.
func (c *devCluster) waitReplicas(ctx context.Context, path string) error {
	for _, n := range c.Nodes[1:] {
		if err := waitStatus(ctx, n.APIURL+path, http.StatusOK, 30*time.Second); err != nil {
			return fmt.Errorf("replica %s: %w", n.Name, err)
		}
	}
	return nil
}

// waitStatus polls url until it answers want, or the timeout passes.
func waitStatus(ctx context.Context, url string, want int, timeout time.Duration) error {
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

// Stop sends SIGTERM to every node (replicas first), waits, kills what is
// left and unmounts any FUSE mount still there.
func (c *devCluster) Stop() {
	c.abortKilled()
	for i := len(c.procs) - 1; i >= 0; i-- {
		_ = c.procs[i].Process.Signal(syscall.SIGTERM)
	}
	for _, p := range c.procs {
		waitExit(p, 10*time.Second)
	}
	for _, p := range c.proxies {
		_ = p.Close()
	}
	c.proxies = nil
	for _, n := range c.Nodes {
		if isMounted(n.FUSEDir) {
			// A node that died left a mount no one serves.
			_ = fsmount.AbortFUSE(n.FUSEDir)
		}
	}
	c.procs = nil
}

func waitExit(p *exec.Cmd, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Process.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = p.Process.Kill()
}

// isMounted reports whether dir is a mount point in /proc/mounts.
func isMounted(dir string) bool {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}

func printTryURLs(c *devCluster) {
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

// makeCA makes the dev cluster's CA under Dir/tls, or keeps the one an
// earlier run made there.
func (c *devCluster) makeCA() error {
	c.tlsDir = filepath.Join(c.Dir, "tls")
	if _, err := os.Stat(filepath.Join(c.tlsDir, nodetls.CACertFile)); err == nil {
		return nil
	}
	if err := nodetls.NewCA(c.tlsDir, nodetls.DefaultCAValidity); err != nil {
		return fmt.Errorf("dev cluster CA: %w", err)
	}
	return nil
}

// devTLS names a dev node's TLS files, for its config.
type devTLS struct{ CA, Cert, Key string }

// nodeCert signs a certificate for a dev node (on 127.0.0.1, or host).
func (c *devCluster) nodeCert(name, host string) (devTLS, error) {
	hosts := []string{"127.0.0.1", "localhost"}
	if host != "127.0.0.1" {
		hosts = append(hosts, host)
	}
	cert, key, err := nodetls.IssueNode(c.tlsDir, c.tlsDir, nodetls.Node{Name: name, Hosts: hosts})
	if err != nil {
		return devTLS{}, fmt.Errorf("dev node certificate: %w", err)
	}
	return devTLS{CA: filepath.Join(c.tlsDir, nodetls.CACertFile), Cert: cert, Key: key}, nil
}

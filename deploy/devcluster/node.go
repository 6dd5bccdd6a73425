package devcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"text/template"
	"time"

	"github.com/tablecast/tablecast/fsmount"
)

// configMark starts every config written here: clearEarlier removes only
// folders holding one.
const configMark = "# written by tablecast dev"

var nodeConfig = template.Must(template.New("cfg").Parse(configMark + `
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
{{- if .ImportWait}}
  import-wait: "{{.ImportWait}}"
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
func (c *Cluster) startNode(ctx context.Context, n *ClusterNode, prim AddrFile) (AddrFile, error) {
	home := filepath.Join(c.Dir, n.Name)
	n.FUSEDir, n.DataDir, n.Log = filepath.Join(home, "fuse"), filepath.Join(home, "data"), filepath.Join(home, "node.log")
	cfgPath, addrPath := filepath.Join(home, "litefs.yml"), filepath.Join(home, "addr.json")
	if err := c.writeConfig(n, prim, cfgPath); err != nil {
		return AddrFile{}, err
	}
	_ = os.Remove(addrPath)
	p, err := c.spawn(n, cfgPath, addrPath)
	if err != nil {
		return AddrFile{}, err
	}
	n.PID = p.cmd.Process.Pid
	addr, err := WaitAddrFile(ctx, addrPath, p.done, 60*time.Second)
	if err != nil {
		return addr, fmt.Errorf("%w (log: %s)", err, n.Log)
	}
	n.APIURL, n.NodeURL, n.LiteFSURL, n.BenchURL = addr.APIURL, addr.NodeURL, addr.LiteFSURL, addr.BenchURL
	return addr, nil
}

// writeConfig writes node n's litefs.yml, with its certificate, following
// the primary at prim (nothing for the first node).
func (c *Cluster) writeConfig(n *ClusterNode, prim AddrFile, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tlsFiles, err := c.nodeCert(n.Name, n.host())
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := nodeConfig.Execute(&buf, map[string]any{"Node": n, "Primary": prim, "PrimaryName": c.Regions[0] + "-1",
		"WriteMode": c.WriteMode, "StaleReads": c.StaleReads, "Lease": c.Lease, "RevocationBound": c.RevocationBound,
		"MinFree": c.MinFree, "ImportWait": c.ImportWait, "TLS": tlsFiles, "Host": n.host()}); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

// spawn runs `tablecast serve` for n, its output appended to n.Log, and
// reports its exit on Exited.
func (c *Cluster) spawn(n *ClusterNode, cfgPath, addrPath string) (*proc, error) {
	logf, err := os.OpenFile(n.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
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
		return nil, err
	}
	p := &proc{name: n.Name, fuseDir: n.FUSEDir, cmd: cmd, done: make(chan struct{})}
	c.procs = append(c.procs, p)
	go c.watch(p, n.Log)
	return p, nil
}

// watch reaps p and reports its exit; when nobody reads Exited and it is
// full, the report is dropped rather than the goroutine kept.
func (c *Cluster) watch(p *proc, log string) {
	err := p.cmd.Wait()
	close(p.done)
	select {
	case c.exited <- fmt.Errorf("node %s exited: %v (log: %s)", p.name, err, log):
	default:
	}
}

// Stop sends SIGTERM to every node (replicas first), waits, kills what is
// left and unmounts any FUSE mount still there.
func (c *Cluster) Stop() {
	c.abortKilled()
	for i := len(c.procs) - 1; i >= 0; i-- {
		_ = c.procs[i].cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range c.procs {
		waitExit(p, 10*time.Second)
	}
	for _, p := range c.proxies {
		_ = p.Close()
	}
	c.proxies = nil
	for _, n := range c.Nodes {
		if IsMounted(n.FUSEDir) {
			// A node that died left a mount no one serves.
			_ = fsmount.AbortFUSE(n.FUSEDir)
		}
	}
	c.procs = nil
}

// waitExit waits for p to exit, and kills it past timeout.
func waitExit(p *proc, timeout time.Duration) {
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
	}
}

// StopNode sends SIGTERM to the latest process of node name and waits;
// past timeout it kills it and aborts its FUSE connection. It fails too
// when the node left its FUSE folder mounted.
func (c *Cluster) StopNode(name string, timeout time.Duration) error {
	var p *proc
	for _, q := range c.procs {
		if q.name == name {
			p = q
		}
	}
	if p == nil {
		return fmt.Errorf("stop %s: not started here", name)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		_ = fsmount.AbortFUSE(p.fuseDir)
		<-p.done
		return fmt.Errorf("%s did not stop within %s of SIGTERM: killed", name, timeout)
	}
	if IsMounted(p.fuseDir) {
		// It died and left a mount no one serves.
		return errors.Join(fmt.Errorf("%s left %s mounted", name, p.fuseDir), fsmount.AbortFUSE(p.fuseDir))
	}
	return nil
}

// ReapKilled watches for nodes killed with SIGKILL until ctx ends: such a
// node cannot finish dying while a thread waiting on its own FUSE mount
// keeps the process (and its listening sockets) alive until the FUSE
// connection is aborted, which this does.
func (c *Cluster) ReapKilled(ctx context.Context) {
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
func (c *Cluster) abortKilled() {
	for _, n := range c.Nodes {
		if Killed(n.PID) && IsMounted(n.FUSEDir) {
			if err := fsmount.AbortFUSE(n.FUSEDir); err == nil {
				fmt.Fprintf(os.Stderr, "tablecast dev: %s was killed; aborted its FUSE mount\n", n.Name)
			}
		}
	}
}

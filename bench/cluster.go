package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tablecast/tablecast/fsmount"
)

// cluster is a `tablecast dev` cluster run as a child process.
type cluster struct {
	cmd     *exec.Cmd
	dir     string
	stopped bool
	// Keep leaves the cluster's folder (logs, data) in place on Stop.
	Keep  bool
	Token string        `json:"token"`
	Nodes []clusterNode `json:"nodes"`
}

// clusterNode is one node of cluster.json.
type clusterNode struct {
	Name      string `json:"name"`
	Region    string `json:"region"`
	Role      string `json:"role"`
	APIURL    string `json:"api_url"`
	BenchURL  string `json:"bench_url"`
	FUSEDir   string `json:"fuse_dir"`
	Candidate bool   `json:"candidate"`
	PID       int    `json:"pid"`
}

// node is the first node of region.
func (c *cluster) node(region string) (clusterNode, bool) {
	for _, n := range c.Nodes {
		if n.Region == region {
			return n, true
		}
	}
	return clusterNode{}, false
}

// replica is the first node that can never be primary: reads are measured
// there, as visitors far from the primary would see them.
func (c *cluster) replica() clusterNode {
	for _, n := range c.Nodes {
		if !n.Candidate {
			return n
		}
	}
	return c.Nodes[len(c.Nodes)-1]
}

// startCluster builds tablecast and runs `tablecast dev -bench`.
func startCluster(ctx context.Context, devArgs ...string) (*cluster, error) {
	dir, err := os.MkdirTemp("", "tablecast-bench-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "tablecast")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/tablecast").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build: %w\n%s", err, out)
	}
	c := &cluster{dir: dir}
	c.cmd = exec.Command(bin, append([]string{"dev", "-bench", "-dir", filepath.Join(dir, "cluster")}, devArgs...)...)
	logf, err := os.Create(filepath.Join(dir, "dev.log"))
	if err != nil {
		return nil, err
	}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "cluster", "cluster.json")
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, c) == nil && len(c.Nodes) >= 2 {
			// cluster.json comes before the sample data; wait for it on a replica.
			if waitOK(c.replica().APIURL+"/demo/cities.json", 30*time.Second) == nil {
				return c, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.Keep = true // for its logs
	_ = c.Stop()
	return nil, fmt.Errorf("cluster not up after 90s; see %s/dev.log", dir)
}

// Stop ends the dev cluster (it unmounts its FUSE folders), aborts any
// FUSE mount it left under its folder (an error) and cleans up. Only the
// first call does anything.
func (c *cluster) Stop() error {
	if c.stopped {
		return nil
	}
	c.stopped = true
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	_ = c.cmd.Wait()
	var errs []error
	for _, m := range mountsUnder(c.dir) {
		errs = append(errs, fmt.Errorf("FUSE mount %s left after the cluster stopped", m), fsmount.AbortFUSE(m))
	}
	if c.Keep || len(errs) > 0 {
		fmt.Printf("cluster logs and data kept in %s\n", c.dir)
		return errors.Join(errs...)
	}
	_ = os.RemoveAll(c.dir)
	return nil
}

// getAuthed GETs url with a bearer token (operator routes and /metrics
// need one).
func getAuthed(ctx context.Context, client *http.Client, url, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return client.Do(req)
}

// post sends a JSON write to the primary.
func (c *cluster) post(ctx context.Context, path string, body any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Nodes[0].APIURL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, raw)
	}
	return nil
}

func waitOK(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("GET %s: not 200 after %s", url, timeout)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
	"github.com/tablecast/tablecast/fsmount"
)

// cluster is a dev cluster (deploy/devcluster, as `tablecast dev -bench`
// runs it) of a tablecast binary built for the run, in a temp folder.
type cluster struct {
	*devcluster.Cluster
	dir     string // the binary, and the cluster's folder
	stopped bool
	// Keep leaves the cluster's folder (logs, data) in place on Stop.
	Keep bool
}

// startCluster builds tablecast and starts a dev cluster of it with every
// node's -bench-addr, with the options set changes (nil: `tablecast dev`'s
// defaults), and the sample data loaded as `tablecast dev` does.
func startCluster(ctx context.Context, set func(o *devcluster.Options)) (*cluster, error) {
	dir, err := os.MkdirTemp("", "tablecast-bench-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "tablecast")
	if out, err := exec.CommandContext(ctx, "go", "build", "-tags", "sqlite_fts5", "-o", bin, "./cmd/tablecast").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build: %w\n%s", err, out)
	}
	o := devcluster.Options{Bin: bin, Dir: filepath.Join(dir, "cluster"), Regions: []string{"lhr", "syd", "sjc"}, Candidates: 3, Bench: true}
	if set != nil {
		set(&o)
	}
	c := &cluster{Cluster: devcluster.New(o), dir: dir}
	if err := c.start(ctx); err != nil {
		c.Keep = true // for its logs
		return nil, errors.Join(err, c.Stop())
	}
	return c, nil
}

// start starts the nodes and loads the sample data, within 90 s.
func (c *cluster) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("start the cluster: %w", err)
	}
	if err := c.LoadSample(ctx); err != nil {
		return fmt.Errorf("load sample data: %w", err)
	}
	return c.WaitReplicas(ctx, "/demo/cities.json")
}

// Stop stops the nodes (they unmount their FUSE folders), aborts any FUSE
// mount left under the folder (an error) and cleans up. Only the first
// call does anything.
func (c *cluster) Stop() error {
	if c.stopped {
		return nil
	}
	c.stopped = true
	c.Cluster.Stop()
	var errs []error
	for _, m := range devcluster.MountsUnder(c.dir) {
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

// waitOK polls url until it answers 200.
func waitOK(ctx context.Context, url string, timeout time.Duration) error {
	return devcluster.WaitStatus(ctx, url, http.StatusOK, timeout)
}

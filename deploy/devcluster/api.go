package devcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tablecast/tablecast"
)

// client is the harness's client of the nodes' public API: bounded, as
// a load of ~100 MB goes through one write.
var client = &http.Client{Timeout: 2 * time.Minute}

// Post sends a JSON write with the cluster's token to the first node (the
// primary it started with) and wants a 2xx answer.
func (c *Cluster) Post(ctx context.Context, path string, body any) error {
	_, err := c.PostTo(ctx, c.Nodes[0].APIURL+path, body, 0)
	return err
}

// PostTo sends a JSON write with the cluster's token to url and decodes the
// answer; want is the status wanted (0: any 2xx).
func (c *Cluster) PostTo(ctx context.Context, url string, body any, want int) (map[string]any, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if (want == 0 && resp.StatusCode/100 != 2) || (want != 0 && resp.StatusCode != want) {
		return out, fmt.Errorf("POST %s: %s: %.300s", url, resp.Status, raw)
	}
	return out, nil
}

// GetJSON GETs url with the cluster's token and decodes a 200 answer into v.
func (c *Cluster) GetJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %.300s", url, resp.Status, raw)
	}
	return json.Unmarshal(raw, v)
}

// WaitReplicas polls path on every replica until it answers 200.
func (c *Cluster) WaitReplicas(ctx context.Context, path string) error {
	for _, n := range c.Nodes[1:] {
		if err := WaitStatus(ctx, n.APIURL+path, http.StatusOK, 30*time.Second); err != nil {
			return fmt.Errorf("replica %s: %w", n.Name, err)
		}
	}
	return nil
}

// StatusRows asks the first node that answers (skip excepted) for
// /-/cluster.json and returns its node rows.
func (c *Cluster) StatusRows(ctx context.Context, skip string) ([]tablecast.ClusterNode, error) {
	var last error
	for _, n := range c.Nodes {
		if n.Name == skip {
			continue
		}
		var out tablecast.ClusterStatus
		if last = c.GetJSON(ctx, n.APIURL+"/-/cluster.json", &out); last == nil {
			return out.Nodes, nil
		}
	}
	return nil, fmt.Errorf("no node answered /-/cluster.json: %w", last)
}

// statusRowsAt is /-/cluster.json's node rows from the node at base, or
// from any node when base is "".
func (c *Cluster) statusRowsAt(ctx context.Context, base string) ([]tablecast.ClusterNode, error) {
	if base == "" {
		return c.StatusRows(ctx, "")
	}
	var out tablecast.ClusterStatus
	err := c.GetJSON(ctx, base+"/-/cluster.json", &out)
	return out.Nodes, err
}

// WaitVoters polls /-/cluster.json on the node at base (any node: "")
// until it shows want ready raft voters, and returns its node rows then.
func (c *Cluster) WaitVoters(ctx context.Context, base string, want int, timeout time.Duration) ([]tablecast.ClusterNode, error) {
	deadline := time.Now().Add(timeout)
	var rows []tablecast.ClusterNode
	var err error
	for time.Now().Before(deadline) {
		if rows, err = c.statusRowsAt(ctx, base); err == nil && readyVoters(rows) == want {
			return rows, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("not %d ready voters after %s: %v %v", want, timeout, rows, err)
}

// readyVoters counts the rows of raft voters that report ready.
func readyVoters(rows []tablecast.ClusterNode) int {
	n := 0
	for _, r := range rows {
		if r.ReadyVoter() {
			n++
		}
	}
	return n
}

// LoadSample builds the dev cluster's demo database through the primary's
// write API: a public table of cities and a private table of customers.
func (c *Cluster) LoadSample(ctx context.Context) error {
	for _, r := range sampleRequests {
		if err := c.Post(ctx, r.path, r.body); err != nil {
			return err
		}
	}
	return nil
}

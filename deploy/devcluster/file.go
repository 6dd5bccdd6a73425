package devcluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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

// AddrFile is what `tablecast serve -addr-file` writes once the node is
// ready (decoded here: this package does not import the binary's).
type AddrFile struct {
	APIURL    string `json:"api_url"`
	NodeURL   string `json:"node_url"`
	LiteFSURL string `json:"litefs_url"`
	PID       int    `json:"pid"`
	BenchURL  string `json:"bench_url,omitempty"`
}

// ReadAddrFile reads a node's addr file.
func ReadAddrFile(path string) (AddrFile, error) {
	var a AddrFile
	b, err := os.ReadFile(path)
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("read %s: %w", path, err)
	}
	return a, nil
}

// writeClusterFile writes Dir/cluster.json.
func (c *Cluster) writeClusterFile() error {
	b, err := json.MarshalIndent(ClusterFile{Token: c.Token, Nodes: c.Nodes}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, "cluster.json"), b, 0o600)
}

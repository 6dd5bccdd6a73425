package devcluster

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tablecast/tablecast/nodetls"
)

// makeCA makes the dev cluster's CA under Dir/tls, or keeps the one an
// earlier run made there.
func (c *Cluster) makeCA() error {
	c.tlsDir = filepath.Join(c.Dir, "tls")
	if _, err := os.Stat(filepath.Join(c.tlsDir, nodetls.CACertFile)); err == nil {
		return nil
	}
	if err := nodetls.NewCA(c.tlsDir, nodetls.DefaultCAValidity); err != nil {
		return fmt.Errorf("dev cluster CA: %w", err)
	}
	return nil
}

// TLSDir is the folder of the cluster's CA and its nodes' certificates.
func (c *Cluster) TLSDir() string { return c.tlsDir }

// nodeTLS names a dev node's TLS files, for its config.
type nodeTLS struct{ CA, Cert, Key string }

// nodeCert signs a certificate for a dev node (on 127.0.0.1, or host).
func (c *Cluster) nodeCert(name, host string) (nodeTLS, error) {
	hosts := []string{"127.0.0.1", "localhost"}
	if host != "127.0.0.1" {
		hosts = append(hosts, host)
	}
	cert, key, err := nodetls.IssueNode(c.tlsDir, c.tlsDir, nodetls.Node{Name: name, Hosts: hosts})
	if err != nil {
		return nodeTLS{}, fmt.Errorf("dev node certificate: %w", err)
	}
	return nodeTLS{CA: filepath.Join(c.tlsDir, nodetls.CACertFile), Cert: cert, Key: key}, nil
}

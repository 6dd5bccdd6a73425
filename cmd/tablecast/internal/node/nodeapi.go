package node

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tablecast/tablecast/nodetls"
	"github.com/tablecast/tablecast/routing"
)

// loadTLS loads the node's TLS identity, or warns that there is none, and
// makes the client of node-to-node calls.
func (n *Node) loadTLS() error {
	t := &n.opts
	var client *tls.Config
	if t.InsecurePlaintext {
		n.logger.Warn("tablecast.insecure-plaintext: node-to-node traffic (LiteFS replication, raft, the node API) is neither authenticated nor encrypted: " +
			"whoever reaches those ports can read every database, plant one, or take the primary. Use only on a private network you trust; see tablecast cert")
	} else {
		c, err := nodetls.Load(t.TLS.CA, t.TLS.Cert, t.TLS.Key)
		if err != nil {
			return fmt.Errorf("tablecast.tls: %w", err)
		}
		if c.Name() == nodetls.AnyNode {
			n.logger.Warn("shared node certificate (any-node): it proves membership of the cluster, not which node this is")
		} else if c.Name() != t.Name {
			return fmt.Errorf("tablecast.tls.cert: the certificate is node %q's, this node is tablecast.name %q (tablecast cert node -name %s)", c.Name(), t.Name, t.Name)
		}
		if left := time.Until(c.NotAfter()); left < 30*24*time.Hour {
			n.logger.Warn("node certificate expires soon: issue a new one (tablecast cert node)", "not_after", c.NotAfter())
		}
		n.tls = c
		client = c.Client()
	}
	n.client = NewClient(client, t.ClusterToken)
	n.proxy = routing.NewProxy(t.Name, n.client.Transport())
	return nil
}

// serverTLS is the node's server side TLS (nil without TLS).
func (n *Node) serverTLS(nextProtos ...string) *tls.Config {
	if n.tls == nil {
		return nil
	}
	return n.tls.Server(nextProtos...)
}

// clientTLS is the node's client side TLS (nil without TLS).
func (n *Node) clientTLS(nextProtos ...string) *tls.Config {
	if n.tls == nil {
		return nil
	}
	return n.tls.Client(nextProtos...)
}

// serveNode serves the API handler on the node address too, over mutual
// TLS: peers send forwarded writes, joins, synchronous-write confirmations
// and status calls there. Bearer tokens still apply on top.
func (n *Node) serveNode(h http.Handler) error {
	c := &n.opts
	ln, err := net.Listen("tcp", c.NodeAddr)
	if err != nil {
		return fmt.Errorf("tablecast.node-addr: listen on %s: %w", c.NodeAddr, err)
	}
	n.nodeURL = c.NodeAdvertiseURL
	if n.nodeURL == "" {
		n.nodeURL = listenerURL(ln)
	}
	if cfg := n.serverTLS("http/1.1"); cfg != nil {
		ln = tls.NewListener(ln, cfg)
		if c.NodeAdvertiseURL == "" {
			n.nodeURL = "https://" + n.nodeURL[len("http://"):]
		}
	}
	// Failed handshakes (scanners, peers of another cluster) at debug level.
	srv := apiServer(h, c)
	srv.ErrorLog = slog.NewLogLogger(n.logger.Handler(), slog.LevelDebug)
	n.extra = append(n.extra, srv)
	n.serve("node api", srv, ln)
	return nil
}

// peerNode is the node name in the verified client certificate of r, ""
// when r did not come over the node port's mutual TLS.
func peerNode(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return r.TLS.PeerCertificates[0].Subject.CommonName
}

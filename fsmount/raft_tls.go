package fsmount

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// raftHandshakeTimeout bounds a raft peer's TLS handshake: a peer that
// connects and says nothing holds one goroutine for that long, no more.
const raftHandshakeTimeout = 10 * time.Second

// TLSStreamLayer is a raft.StreamLayer over mutual TLS: it accepts only
// peers that present a node certificate the server config verifies, and
// dials peers with the client config (which verifies theirs).
type TLSStreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	client    *tls.Config
}

var _ raft.StreamLayer = (*TLSStreamLayer)(nil)

// NewTLSStreamLayer listens on bind with server; advertise is the address
// peers dial (nil: the bound address, which must then be a specific IP).
func NewTLSStreamLayer(bind string, advertise net.Addr, server, client *tls.Config) (*TLSStreamLayer, error) {
	if server == nil || client == nil {
		return nil, fmt.Errorf("raft tls: server and client configs are required")
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("raft listen: %w", err)
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if tcp, ok := advertise.(*net.TCPAddr); !ok || tcp.IP == nil || tcp.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("raft tls: advertise address %s is not a specific IP address", advertise)
	}
	return &TLSStreamLayer{ln: tls.NewListener(ln, server), advertise: advertise, client: client}, nil
}

// NewTLSTransport is raft.NewTCPTransport's counterpart over mutual TLS.
func NewTLSTransport(bind string, advertise net.Addr, server, client *tls.Config, maxPool int, timeout time.Duration) (*raft.NetworkTransport, error) {
	stream, err := NewTLSStreamLayer(bind, advertise, server, client)
	if err != nil {
		return nil, err
	}
	return raft.NewNetworkTransport(stream, maxPool, timeout, io.Discard), nil
}

// Accept waits for the next connection. The TLS handshake happens on the
// connection's first read, in raft's goroutine for that connection, so a
// slow or silent peer never blocks the accept loop; it is bounded by
// raftHandshakeTimeout, and a failed one closes the connection before raft
// reads a byte of it.
func (s *TLSStreamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakeConn{Conn: c.(*tls.Conn)}, nil
}

// Close stops listening.
func (s *TLSStreamLayer) Close() error { return s.ln.Close() }

// Addr is the advertised address.
func (s *TLSStreamLayer) Addr() net.Addr { return s.advertise }

// Dial connects to a peer and completes the handshake within timeout: the
// peer's certificate must be a node certificate of the cluster CA naming
// the host dialled.
func (s *TLSStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(string(address))
	if err != nil {
		return nil, fmt.Errorf("raft dial %s: %w", address, err)
	}
	cfg := s.client.Clone()
	cfg.ServerName = host
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("raft dial %s: %w", address, err)
	}
	return c, nil
}

// handshakeConn is an accepted connection whose first Read or Write first
// completes the TLS handshake, within raftHandshakeTimeout.
type handshakeConn struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (c *handshakeConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), raftHandshakeTimeout)
		defer cancel()
		if c.err = c.Conn.HandshakeContext(ctx); c.err != nil {
			c.err = fmt.Errorf("raft tls handshake with %s: %w", c.RemoteAddr(), c.err)
			_ = c.Conn.Close()
		}
	})
	return c.err
}

func (c *handshakeConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *handshakeConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

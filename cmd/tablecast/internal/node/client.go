package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/fsmount"
)

// Timeouts of node-to-node calls. A peer that accepts and never answers
// holds a call for CallTimeout at most (joins, status, confirmations of
// synchronous writes, which wait up to 5 s).
const (
	DefaultDialTimeout      = 3 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultHeaderTimeout    = 30 * time.Second // forwarded writes and reads wait this long for an answer
	DefaultCallTimeout      = 15 * time.Second
)

// Client makes this node's calls to other nodes' node APIs: mutual TLS
// with the node's certificate (plain HTTP with insecure-plaintext), the
// cluster token, and timeouts on the dial, the handshake, the answer's
// headers and the whole call. Its Transport also carries the requests the
// node proxies to the primary or the raft leader.
type Client struct {
	// Token is the cluster token, sent as a bearer token.
	Token string
	// Timeout bounds one call, answer read included.
	Timeout time.Duration

	transport *http.Transport
	http      *http.Client
}

// NewClient returns a client presenting tlsConfig (nil: plain HTTP).
func NewClient(tlsConfig *tls.Config, token string) *Client {
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: DefaultDialTimeout}).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   DefaultHandshakeTimeout,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: DefaultHeaderTimeout, // a peer that accepts and never answers
	}
	return &Client{Token: token, Timeout: DefaultCallTimeout, transport: t, http: &http.Client{Transport: t}}
}

// Transport carries requests to other nodes (mutual TLS unless plaintext).
func (c *Client) Transport() *http.Transport { return c.transport }

// JoinRequest is the body of POST /-/cluster/join.
type JoinRequest struct {
	Node  fsmount.NodeInfo `json:"node"`
	Voter bool             `json:"voter"`
}

// Join asks the node at base (the raft leader, or one that forwards to
// it) to add or update this node.
func (c *Client) Join(ctx context.Context, base string, req JoinRequest) error {
	return c.call(ctx, http.MethodPost, base+"/-/cluster/join", req, nil)
}

// Status is the node at base's /-/status.json, with every database.
func (c *Client) Status(ctx context.Context, base string) (tablecast.NodeStatus, error) {
	var st tablecast.NodeStatus
	err := c.call(ctx, http.MethodGet, base+"/-/status.json", nil, &st)
	return st, err
}

// ConfirmPos asks the node at base whether its history passes through pos
// of db, waiting up to wait for it to get there (/-/wait?checksum=…).
func (c *Client) ConfirmPos(ctx context.Context, base, db string, pos tablecast.Pos, wait time.Duration) error {
	u := fmt.Sprintf("%s/-/wait?db=%s&txid=%s&checksum=%016x&timeout=%s", base, url.QueryEscape(db), pos.TXID, pos.Checksum, wait)
	return c.call(ctx, http.MethodGet, u, nil, nil)
}

// call sends body as JSON with the cluster token and decodes a 2xx answer
// into out (nil: the answer is dropped).
func (c *Client) call(ctx context.Context, method, url string, body, out any) error {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	return tablecast.CallJSON(ctx, c.http, method, url, c.Token, body, out)
}

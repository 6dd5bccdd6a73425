package node

import (
	"crypto/sha256"
	"net/http"
)

// apiServer is the public API's http.Server, with the timeouts of the
// config: a client that sends its headers or body slowly (or holds an idle
// connection) cannot keep a connection, and its goroutine, for longer.
// WriteTimeout stays off: CSV streams (_stream=on) and long-polls
// (/-/wait) write for as long as they need.
func apiServer(h http.Handler, c *Options) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

// etagKey keys the ETags of public answers: derived from the cluster
// token, which every node of a raft cluster shares, so that nodes agree
// on ETags (a client keeps its 304s across them) and nobody without the
// token can compute one. Without a cluster token, nil: each node draws
// its own.
func etagKey(clusterToken string) []byte {
	if clusterToken == "" {
		return nil
	}
	sum := sha256.Sum256([]byte("tablecast etag key\x00" + clusterToken))
	return sum[:]
}

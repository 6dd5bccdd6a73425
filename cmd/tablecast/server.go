package main

import (
	"net/http"
)

// apiServer is the public API's http.Server, with the timeouts of the
// config: a client that sends its headers or body slowly (or holds an idle
// connection) cannot keep a connection, and its goroutine, for longer.
// WriteTimeout stays off: CSV streams (_stream=on) and long-polls
// (/-/wait) write for as long as they need.
func apiServer(h http.Handler, c *TablecastConfig) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

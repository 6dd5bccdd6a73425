package node

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// The API server drops clients that send their headers or body slowly, or
// sit idle: 50 slow-body connections, 10 slow-header ones and an idle
// keep-alive one are all closed by the server soon after their timeout,
// while they keep sending (without the timeouts they would stay open for
// as long as the client likes).
func TestAPIServer_SlowClients(t *testing.T) {
	c := &Options{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond, IdleTimeout: 600 * time.Millisecond}
	srv := apiServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}), c)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	// dribble sends head, then one byte every 20 ms until the server
	// closes the connection; it returns how long the connection lasted.
	dribble := func(head string) (time.Duration, error) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, head); err != nil {
			return 0, err
		}
		closed := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, conn); close(closed) }()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		limit := time.After(10 * time.Second)
		for {
			select {
			case <-closed:
				return time.Since(start), nil
			case <-limit:
				return 0, fmt.Errorf("still open after 10s")
			case <-tick.C:
				_, _ = conn.Write([]byte("x")) // fails once the server closed
			}
		}
	}
	const slowBody, slowHeader = 50, 10
	var wg sync.WaitGroup
	results := make(chan string, slowBody+slowHeader)
	check := func(kind string, timeout time.Duration, head string) {
		defer wg.Done()
		d, err := dribble(head)
		switch {
		case err != nil:
			results <- fmt.Sprintf("%s: %v", kind, err)
		case d > timeout+2*time.Second:
			results <- fmt.Sprintf("%s: closed after %s, timeout %s", kind, d, timeout)
		}
	}
	for range slowBody {
		wg.Add(1)
		go check("slow body", c.ReadTimeout, "POST /db/t/-/insert HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	}
	for range slowHeader {
		wg.Add(1)
		go check("slow headers", c.ReadHeaderTimeout, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	}
	wg.Wait()
	close(results)
	for r := range results {
		t.Error(r)
	}

	// An idle keep-alive connection is closed after IdleTimeout.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(conn) // the answer, then EOF when the server closes
	if err != nil || time.Since(start) > c.IdleTimeout+2*time.Second {
		t.Fatalf("idle connection: %v after %s (%q)", err, time.Since(start), b)
	}
}

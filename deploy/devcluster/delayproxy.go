package devcluster

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// DelayProxy forwards TCP connections to Target, holding every chunk of
// data Delay before passing it on, in each direction: a region's distance
// on one machine (the kernel here has no netem).
type DelayProxy struct {
	Target string
	Delay  time.Duration
	Logger *slog.Logger

	ln net.Listener
	wg sync.WaitGroup

	mu   sync.Mutex
	open chan struct{} // nil, or closed: data flows; open: held (Partition)
}

// Partition holds (true) or lets flow again (false) every byte in both
// directions, of open connections and new ones alike: a network partition
// that keeps connections up, as a lost route does, with no reset to tell
// either side. What was held is delivered, late, when it heals.
func (p *DelayProxy) Partition(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case on && p.open == nil:
		p.open = make(chan struct{})
	case !on && p.open != nil:
		close(p.open)
		p.open = nil
	}
}

// flowing is closed while data may flow.
func (p *DelayProxy) flowing() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open == nil {
		return closedCh
	}
	return p.open
}

var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Listen starts accepting on addr ("127.0.0.1:0" picks a port).
func (p *DelayProxy) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("delay proxy listen: %w", err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.accept()
	return nil
}

// Addr is the listening address.
func (p *DelayProxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting; open connections end with their peers.
func (p *DelayProxy) Close() error {
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *DelayProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *DelayProxy) serve(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.Target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	done := make(chan struct{}, 2)
	go func() { p.pump(server, client); done <- struct{}{} }()
	go func() { p.pump(client, server); done <- struct{}{} }()
	<-done
	client.Close()
	server.Close()
	<-done
}

type chunk struct {
	data []byte
	due  time.Time
}

// pump copies src to dst, each chunk Delay after it was read.
func (p *DelayProxy) pump(dst, src net.Conn) {
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{buf[:n], time.Now().Add(p.Delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.due))
		<-p.flowing()
		if _, err := dst.Write(c.data); err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	for range q { // drain so the reader ends
	}
}

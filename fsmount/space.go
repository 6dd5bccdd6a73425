package fsmount

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/superfly/litefs"
	"github.com/superfly/ltx"
	"github.com/tablecast/tablecast"
)

// SpaceCheckEvery is how often a replica reads its data folder's free
// space while it takes the primary's stream.
const SpaceCheckEvery = 100 * time.Millisecond

// ErrDiskFull is why a replica's stream is refused or cut: its data
// folder has less free space than Mount.MinFree.
var ErrDiskFull = errors.New("disk full")

// spaceGate keeps a replica from taking the primary's stream while its
// data folder is short of space. LiteFS (v0.5.14) writes each received
// transaction to an LTX file, then applies it to the database file; when
// the apply fails (no space left on device, the database file growing) it
// calls Store.Exit(99): the process stops with the database half written.
// A failed LTX write is not fatal (the stream ends and LiteFS connects
// again). So the gate stops the stream before the disk is that full: below
// the floor it cancels the stream's context (LiteFS then discards the
// LTX file it was receiving, never applies it, and asks for the stream
// again) and refuses new streams until the free space is back an eighth
// above the floor; LiteFS then resumes from its own position. Public reads stop
// after tablecast.revocation-bound, as for any silent replica.
type spaceGate struct {
	dir    string
	floor  uint64
	statfs func(string) (uint64, error)
	m      *Mount

	reason atomic.Pointer[string] // non-nil while paused: why

	mu      sync.Mutex
	streams map[*gatedStream]struct{}
	warned  bool // below 2×floor, logged
	lastErr string
}

// check reads the free space once and pauses or resumes the stream.
func (g *spaceGate) check() {
	free, err := g.statfs(g.dir)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		// Not knowing is no reason to stop: LiteFS meets the same error.
		if msg := err.Error(); msg != g.lastErr {
			g.lastErr = msg
			g.m.Logger.Warn("cannot read free disk space of the data folder", "err", err)
		}
		return
	}
	g.lastErr = ""
	if near := free < 2*g.floor; near != g.warned {
		g.warned = near
		if near {
			g.m.Logger.Warn("free disk space of the data folder under twice tablecast.min-free-bytes: a replica stops taking the primary's stream at the floor",
				"dir", g.dir, "free", tablecast.FormatBytes(free), "min_free", tablecast.FormatBytes(g.floor))
		}
	}
	paused := g.reason.Load() != nil
	switch {
	case free < g.floor && !paused && !g.m.IsPrimary():
		why := fmt.Sprintf("disk full: %s free in %s, tablecast.min-free-bytes is %s; this replica stopped taking the primary's stream until space is freed",
			tablecast.FormatBytes(free), g.dir, tablecast.FormatBytes(g.floor))
		g.reason.Store(&why)
		g.m.Logger.Error("free disk space below tablecast.min-free-bytes: disconnected from the primary until space is freed (LiteFS would stop the process if it could not apply a transaction)",
			"dir", g.dir, "free", tablecast.FormatBytes(free), "min_free", tablecast.FormatBytes(g.floor), "streams_cut", len(g.streams))
		for s := range g.streams {
			s.cancel()
		}
	case paused && (free >= g.resumeAt() || g.m.IsPrimary()):
		g.reason.Store(nil)
		g.m.Logger.Info("free disk space back above tablecast.min-free-bytes: taking the primary's stream again",
			"dir", g.dir, "free", tablecast.FormatBytes(free), "resume_at", tablecast.FormatBytes(g.resumeAt()))
	}
}

// resumeAt is the free space a paused replica waits for: an eighth above
// the floor, so that catching up (which takes space again) does not cut
// the stream at once and the node does not flap.
func (g *spaceGate) resumeAt() uint64 { return g.floor + g.floor/8 }

// run checks every SpaceCheckEvery until done closes.
func (g *spaceGate) run(done <-chan struct{}) {
	t := time.NewTicker(SpaceCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			g.check()
		}
	}
}

// paused is why the stream is stopped, "" when it is not.
func (g *spaceGate) paused() string {
	if p := g.reason.Load(); p != nil {
		return *p
	}
	return ""
}

// spaceClient is the store's litefs.Client behind the gate.
type spaceClient struct {
	litefs.Client
	g *spaceGate
}

// Stream refuses to connect while the gate is paused, and otherwise
// returns a stream the gate can cut.
func (c *spaceClient) Stream(ctx context.Context, primaryURL string, nodeID uint64, posMap map[string]ltx.Pos, filter []string) (litefs.Stream, error) {
	c.g.check() // afresh: the last tick may be 100 ms old
	if why := c.g.paused(); why != "" {
		return nil, fmt.Errorf("%w: %s", ErrDiskFull, why)
	}
	ctx, cancel := context.WithCancel(ctx)
	st, err := c.Client.Stream(ctx, primaryURL, nodeID, posMap, filter)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &gatedStream{Stream: st, cancel: cancel, g: c.g}
	c.g.mu.Lock()
	if c.g.streams == nil {
		c.g.streams = map[*gatedStream]struct{}{}
	}
	c.g.streams[s] = struct{}{}
	c.g.mu.Unlock()
	if c.g.paused() != "" { // paused between the check and the register
		cancel()
	}
	return s, nil
}

// checkEveryBytes: a stream reads the free space afresh each time it has
// received this much, so that a burst between two ticks cannot take more
// than this (plus applying the transaction it ends) below the floor.
const checkEveryBytes = 1 << 20

// gatedStream fails every read once the gate pauses, so that LiteFS
// stops between two reads of a frame even before the cancel reaches the
// connection.
type gatedStream struct {
	litefs.Stream
	cancel context.CancelFunc
	g      *spaceGate
	unseen int // bytes read since the last check
}

func (s *gatedStream) Read(p []byte) (int, error) {
	if s.unseen >= checkEveryBytes {
		s.unseen = 0
		s.g.check()
	}
	if why := s.g.paused(); why != "" {
		return 0, fmt.Errorf("%w: %s", ErrDiskFull, why)
	}
	n, err := s.Stream.Read(p)
	s.unseen += n
	return n, err
}

func (s *gatedStream) Close() error {
	s.cancel()
	s.g.mu.Lock()
	delete(s.g.streams, s)
	s.g.mu.Unlock()
	return s.Stream.Close()
}

// StreamPaused is why this node does not take the primary's stream now
// ("disk full: …"), "" when it does (or has no floor).
func (m *Mount) StreamPaused() string {
	if m.space == nil {
		return ""
	}
	return m.space.paused()
}

// exitHook is LiteFS's Store.Exit (called with 99 when a commit or the
// apply of a received transaction fails half way): it stops the process,
// as LiteFS must (it cannot undo a half-applied transaction, and restart
// recovers), after saying how much space was left, the likely cause on a
// replica. It aborts this node's own FUSE connection first: threads of
// the process still waiting on its own mount keep it from finishing its
// exit (measured: a replica that hit this path hung, HTTP included,
// instead of exiting), so the supervisor could never restart it.
func (m *Mount) exitHook(code int) {
	free, err := tablecast.FreeBytes(m.DataDir)
	m.Logger.Error("litefs stops the process: it could not commit or apply a transaction (see the litefs line above); a full disk is the usual cause",
		"code", code, "dir", m.DataDir, "free", tablecast.FormatBytes(free), "statfs_err", err)
	if err := AbortFUSE(m.FUSEDir); err != nil {
		m.Logger.Error("cannot abort the fuse mount before exiting", "dir", m.FUSEDir, "err", err)
	}
	os.Exit(code)
}

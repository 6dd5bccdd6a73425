package fsmount

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/superfly/litefs"
	"github.com/superfly/ltx"
	"github.com/tablecast/tablecast"
)

// fakeStream is an endless stream of zeros that ends when its context does.
type fakeStream struct {
	ctx context.Context
}

func (s *fakeStream) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	clear(p)
	return len(p), nil
}
func (s *fakeStream) Close() error      { return nil }
func (s *fakeStream) ClusterID() string { return "LFSC0000000000000000" }

type fakeClient struct {
	litefs.Client
	streams int
}

func (c *fakeClient) Stream(ctx context.Context, _ string, _ uint64, _ map[string]ltx.Pos, _ []string) (litefs.Stream, error) {
	c.streams++
	return &fakeStream{ctx: ctx}, nil
}

// newTestGate is a replica's gate (no store: never primary) over a free
// figure the test sets.
func newTestGate(t *testing.T, floor uint64, free *atomic.Uint64, log *bytes.Buffer) (*spaceGate, *spaceClient, *fakeClient) {
	t.Helper()
	m := &Mount{Logger: slog.New(slog.NewTextHandler(log, nil))}
	m.Store = litefs.NewStore(t.TempDir(), false)
	g := &spaceGate{dir: "/data", floor: floor, m: m, statfs: func(string) (uint64, error) { return free.Load(), nil }}
	m.space = g
	fc := &fakeClient{}
	return g, &spaceClient{Client: fc, g: g}, fc
}

// TestSpaceGate: below the floor the open stream fails on its next read
// and its context ends; new streams are refused with ErrDiskFull; an
// eighth above the floor again streams are taken. Warnings at twice the floor.
func TestSpaceGate(t *testing.T) {
	var free atomic.Uint64
	free.Store(100 << 20)
	var log bytes.Buffer
	g, c, fc := newTestGate(t, 16<<20, &free, &log)

	st, err := c.Stream(t.Context(), "https://primary", 1, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := st.Read(buf); err != nil {
		t.Fatalf("read above the floor: %v", err)
	}
	free.Store(20 << 20) // under 2×floor: a warning, still streaming
	g.check()
	if _, err := st.Read(buf); err != nil {
		t.Fatalf("read under twice the floor: %v", err)
	}
	if !strings.Contains(log.String(), "under twice tablecast.min-free-bytes") {
		t.Errorf("no warning under twice the floor: %s", log.String())
	}
	if got := g.m.StreamPaused(); got != "" {
		t.Fatalf("paused above the floor: %q", got)
	}

	free.Store(15 << 20)
	g.check()
	if _, err := st.Read(buf); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("read below the floor: %v, want ErrDiskFull", err)
	}
	if err := st.(*gatedStream).Stream.(*fakeStream).ctx.Err(); err == nil {
		t.Fatal("the stream's context still runs below the floor")
	}
	if why := g.m.StreamPaused(); !strings.HasPrefix(why, "disk full: 15.0 MiB free in /data") {
		t.Fatalf("StreamPaused: %q", why)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stream(t.Context(), "https://primary", 1, nil, nil); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("new stream below the floor: %v, want ErrDiskFull", err)
	}
	if fc.streams != 1 {
		t.Fatalf("the primary was asked for %d streams, want 1", fc.streams)
	}

	free.Store(17 << 20) // above the floor, under floor+1/8: still paused
	if _, err := c.Stream(t.Context(), "https://primary", 1, nil, nil); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("new stream at 17 MiB (resume at 18 MiB): %v, want ErrDiskFull", err)
	}
	free.Store(18 << 20) // back an eighth above: Stream checks afresh
	st, err = c.Stream(t.Context(), "https://primary", 1, nil, nil)
	if err != nil {
		t.Fatalf("stream above the floor again: %v", err)
	}
	if _, err := st.Read(buf); err != nil {
		t.Fatalf("read above the floor again: %v", err)
	}
	if g.m.StreamPaused() != "" || !strings.Contains(log.String(), "taking the primary's stream again") {
		t.Fatalf("not resumed: %q\n%s", g.m.StreamPaused(), log.String())
	}
	_ = st.Close()
	if len(g.streams) != 0 {
		t.Fatalf("%d streams still registered after Close", len(g.streams))
	}
}

// TestSpaceGate_BurstChecked: a stream reading fast between two ticks
// reads the free space again every checkEveryBytes, so it stops within
// about that much of the floor even if no tick comes.
func TestSpaceGate_BurstChecked(t *testing.T) {
	var free atomic.Uint64
	free.Store(100 << 20)
	var log bytes.Buffer
	_, c, _ := newTestGate(t, 16<<20, &free, &log)
	st, err := c.Stream(t.Context(), "https://primary", 1, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Every byte read takes a byte of disk, as writing the LTX file does.
	var read uint64
	buf := make([]byte, 32<<10)
	for {
		n, err := st.Read(buf)
		read += uint64(n)
		free.Store(100<<20 - read)
		if errors.Is(err, ErrDiskFull) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if read > 100<<20 {
			t.Fatal("read the whole disk without stopping")
		}
	}
	if left := free.Load(); left < 16<<20-checkEveryBytes-uint64(len(buf)) {
		t.Fatalf("stopped with %s free, floor 16 MiB: more than %d bytes under it", tablecast.FormatBytes(left), checkEveryBytes)
	}
	if _, err := io.ReadFull(st, buf); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("read after the stop: %v", err)
	}
}

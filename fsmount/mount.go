// Package fsmount embeds LiteFS: its store, its FUSE mount and its
// replication HTTP server, behind one Mount with Open and Close.
package fsmount

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"

	"github.com/superfly/litefs"
	lfsfuse "github.com/superfly/litefs/fuse"
	lfshttp "github.com/superfly/litefs/http"
	"github.com/tablecast/tablecast"
)

// Mount is one node's embedded LiteFS.
type Mount struct {
	// FUSEDir is where the databases are mounted; DataDir holds LiteFS's
	// own files (LTX files, positions). Addr is the replication server's
	// listen address (":0" picks a port).
	FUSEDir string
	DataDir string
	Addr    string

	// Candidate marks a node allowed to become primary.
	Candidate bool

	// MinFree, when not 0, is the free space (bytes) this node keeps in
	// DataDir as a replica: below it, it stops taking the primary's
	// stream until space is freed (see spaceGate). Statfs reads a folder's
	// free bytes (statfs f_bavail × f_bsize when nil; tests replace it).
	MinFree uint64
	Statfs  func(dir string) (uint64, error)

	// ServerTLS and ClientTLS, when set, put replication on mutual TLS:
	// the server accepts only peers with a cluster node certificate, the
	// client presents this node's. Nil (both) is plaintext, for
	// tablecast.insecure-plaintext only. Either way the server answers
	// only the replication stream (see replicationPaths).
	ServerTLS, ClientTLS *tls.Config

	dbs sync.Map // database name → *litefs.DB, once the store has it

	// Leaser elects the primary. Required before Open.
	Leaser litefs.Leaser

	ReconnectDelay time.Duration
	DemoteDelay    time.Duration

	Logger *slog.Logger

	Store   *litefs.Store
	fs      *lfsfuse.FileSystem
	server  *lfshttp.Server
	changes changes
	heard   heard // when this node last heard from the primary (SinceHeard)
	space   *spaceGate
	done    chan struct{}
}

var _ tablecast.Positions = (*Mount)(nil)

// New returns a Mount with LiteFS's default timings.
func New(fuseDir, dataDir, addr string) *Mount {
	return &Mount{
		FUSEDir:        fuseDir,
		DataDir:        dataDir,
		Addr:           addr,
		Candidate:      true,
		ReconnectDelay: litefs.DefaultReconnectDelay,
		DemoteDelay:    litefs.DefaultDemoteDelay,
		Logger:         slog.Default(),
	}
}

// Listen opens the store and starts listening for replication, so that
// URL is known before a leaser needs to advertise it. Call Open next.
func (m *Mount) Listen() error {
	// A node that crashed leaves a dead mount behind: clear it.
	if err := AbortFUSE(m.FUSEDir); err == nil {
		m.Logger.Warn("cleared a stale fuse mount", "dir", m.FUSEDir)
	} else if !errors.Is(err, ErrNotMounted) {
		return fmt.Errorf("clear stale mount: %w", err)
	}
	for _, dir := range []string{m.FUSEDir, m.DataDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create dir: %w", err)
		}
	}
	m.Store = litefs.NewStore(m.DataDir, m.Candidate)
	if (m.ServerTLS == nil) != (m.ClientTLS == nil) {
		return errors.New("litefs tls: set both ServerTLS and ClientTLS, or neither")
	}
	m.Store.Client = lfshttp.NewClient()
	if m.ClientTLS != nil {
		m.Store.Client = tlsClient(m.ClientTLS)
	}
	m.Store.ReconnectDelay = m.ReconnectDelay
	m.Store.DemoteDelay = m.DemoteDelay
	m.server = lfshttp.NewServer(m.Store, m.Addr)
	if err := m.server.Listen(); err != nil {
		return fmt.Errorf("listen litefs http: %w", err)
	}
	if err := lockDownServer(m.server, m.ServerTLS); err != nil {
		_ = m.server.Close()
		return err
	}
	return nil
}

// URL is the replication server's URL, valid after Listen: https:// with TLS.
func (m *Mount) URL() string {
	if m.ServerTLS != nil {
		return httpsURL(m.server.URL())
	}
	return m.server.URL()
}

// Open opens the store, mounts FUSE and starts serving replication.
func (m *Mount) Open() error {
	if m.Leaser == nil {
		return fmt.Errorf("open litefs: no leaser")
	}
	m.Store.Leaser = m.Leaser
	m.Store.Exit = m.exitHook
	if m.MinFree > 0 {
		statfs := m.Statfs
		if statfs == nil {
			statfs = tablecast.FreeBytes
		}
		m.space = &spaceGate{dir: m.DataDir, floor: m.MinFree, statfs: statfs, m: m}
		m.Store.Client = &spaceClient{Client: m.Store.Client, g: m.space}
	}
	// The invalidator before Open: the store's goroutines read it.
	m.heard.init()
	inv := &heardInvalidator{h: &m.heard}
	m.Store.Invalidator = inv
	if err := m.Store.Open(); err != nil {
		return fmt.Errorf("open litefs store: %w", err)
	}
	m.fs = lfsfuse.NewFileSystem(m.FUSEDir, m.Store)
	if err := m.fs.Mount(false); err != nil {
		return fmt.Errorf("mount fuse at %s: %w (is fuse3 installed?)", m.FUSEDir, err)
	}
	inv.fs.Store(m.fs)
	m.heard.touch() // mounted: counts as heard, Ready gates the rest
	m.done = make(chan struct{})
	go m.watchEvents(m.done)
	if m.space != nil {
		go m.space.run(m.done)
	}
	m.server.Serve()
	m.Logger.Info("litefs mounted", "dir", m.FUSEDir, "url", m.URL())
	return nil
}

// Ready is closed once the node is primary or connected to the primary.
func (m *Mount) Ready() <-chan struct{} { return m.Store.ReadyCh() }

// WaitReady waits for Ready or ctx.
func (m *Mount) WaitReady(ctx context.Context) error {
	select {
	case <-m.Ready():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for litefs ready: %w", context.Cause(ctx))
	}
}

// Close stops serving replication, unmounts FUSE and closes the store.
func (m *Mount) Close() error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if m.done != nil {
		close(m.done)
	}
	if m.server != nil {
		keep(m.server.Close())
	}
	if m.fs != nil {
		keep(m.unmount())
	}
	if m.Store != nil {
		keep(m.Store.Close())
	}
	return first
}

// unmount unmounts FUSE; when something still holds a file open there, it
// detaches the mount lazily so the node can still stop cleanly.
func (m *Mount) unmount() error {
	err := m.fs.Unmount()
	if err == nil {
		return nil
	}
	m.Logger.Warn("fuse busy, unmounting lazily", "dir", m.FUSEDir, "err", err)
	if out, lerr := exec.Command("fusermount3", "-u", "-z", m.FUSEDir).CombinedOutput(); lerr != nil {
		return fmt.Errorf("unmount %s: %w: %s", m.FUSEDir, err, out)
	}
	return nil
}

// IsPrimary reports whether this node holds the lease.
func (m *Mount) IsPrimary() bool { return m.Store.IsPrimary() }

// PrimaryHostname is the hostname the primary advertised, "" when unknown
// or when this node is the primary.
func (m *Mount) PrimaryHostname() string {
	_, info := m.Store.PrimaryInfo()
	if info == nil {
		return ""
	}
	return info.Hostname
}

// Lag bounds how stale this replica is (0 on the primary): the time since
// the primary last sent a transaction or a heartbeat. LiteFS heartbeats
// idle replicas every second, so an idle replica's Lag runs up to ~1 s.
func (m *Mount) Lag() time.Duration { return m.Store.Lag() }

// TXID implements tablecast.Positions without a system call.
func (m *Mount) TXID(db string) (tablecast.TXID, bool) {
	d := m.storeDB(db)
	if d == nil {
		return 0, false
	}
	return tablecast.TXID(d.Pos().TXID), true
}

// storeDB is the store's database named db (nil if none). Every public
// read asks, so a database found once is remembered: LiteFS (v0.5.14)
// never takes a database out of its store (a deleted one stays, empty, and
// is reused if created again), and Store.DB takes the store's one mutex,
// which both cores would otherwise pass back and forth on every read.
// Names that do not exist are not remembered (the set stays as small as
// the store's, whatever visitors ask for).
func (m *Mount) storeDB(db string) *litefs.DB {
	if d, ok := m.dbs.Load(db); ok {
		return d.(*litefs.DB)
	}
	d := m.Store.DB(tablecast.DBFileName(db))
	if d != nil {
		m.dbs.Store(db, d)
	}
	return d
}

// Databases implements tablecast.Positions.
func (m *Mount) Databases() []string {
	var names []string
	for _, d := range m.Store.DBs() {
		if name, ok := tablecast.DBNameFromFile(d.Name()); ok {
			names = append(names, name)
		}
	}
	return names
}

// settleOwner is the lock owner Settle asks LiteFS about: it never takes a
// lock, it only asks whether one could be had (as F_GETLK does).
const settleOwner = 0x7461626c65636173 // "tablecas"

// settleLocks are the locks an SQLite reader of a LiteFS database takes:
// the database's SHARED lock, the WAL index's DMS and read-mark 0 (a
// replica's WAL is empty), all held exclusively while LiteFS applies a
// transaction.
var settleLocks = []litefs.LockType{litefs.LockTypeShared, litefs.LockTypeDMS, litefs.LockTypeRead0}

// Settle waits (up to 100 ms, or ctx) until LiteFS holds none of the locks
// a reader needs on db. LiteFS moves a replica's TXID before it releases
// the locks of the transaction it applies; a read transaction begun in
// between gets SQLITE_BUSY from the FUSE lock call and SQLite backs off for
// milliseconds (growing sleeps) before it tries again. Waiting here, in
// process, costs microseconds instead.
func (m *Mount) Settle(ctx context.Context, db string) {
	d := m.storeDB(db)
	if d == nil {
		return
	}
	deadline := time.Now().Add(100 * time.Millisecond)
	for i := 0; !d.CanRLock(ctx, settleOwner, settleLocks); i++ {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return
		}
		if i < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

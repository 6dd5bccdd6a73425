// Package replica is the public read path: the table, row, database and
// SQL reads that pass through the gate (package gate, whose doc states
// what is public). Every node serves it,
// primary and replicas alike.
package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// DefaultPoolSize is the number of read connections per database; 2-4 was
// fastest on the 2-core machines measured.
const DefaultPoolSize = 4

// maxPinAttempts bounds the retries when the TXID moves while a read
// transaction pins its snapshot.
const maxPinAttempts = 20

// Reader serves public reads of the databases in Dir.
type Reader struct {
	Dir       string
	Positions tablecast.Positions
	Fence     *tablecast.CommitFence
	PoolSize  int
	Logger    *slog.Logger

	// Cache holds rendered answers; nil disables it.
	Cache *Cache

	// MaxAge, when positive, is sent as "Cache-Control: public,
	// max-age=N" on successful answers.
	MaxAge time.Duration
	// OnCatchUp, when set, is told how long each catch-up took: the read
	// transaction that loads a database's versions (and gate, if it moved)
	// after its TXID moved, which the reads arriving meanwhile wait for.
	OnCatchUp         func(time.Duration)
	cacheControlValue atomic.Pointer[maxAgeHeader]

	// Public SQL: the longest a query may run, the most rows it returns,
	// and the connections per database that run it (apart from the pool
	// of table reads, so that slow queries cannot starve them).
	SQLTimeLimit time.Duration
	SQLMaxRows   int
	SQLPoolSize  int

	// FacetTimeLimit is the longest one facet of a table page may count
	// (facets.go); 0 is DefaultFacetTimeLimit.
	FacetTimeLimit time.Duration

	// Tokens, when set, checks the bearer token of reads that carry an
	// Authorization header: one with the read scope reads private tables
	// too (token.go). Reads without that header never reach it.
	Tokens TokenChecker

	// ETagKey keys the ETags (see etagOf): the same on every node of a
	// cluster lets a client keep its ETag across nodes. Empty: a random
	// key of this process.
	ETagKey     []byte
	etagKeyOnce sync.Once

	// BaseURL, when set ("https://data.example.com", see CheckBaseURL),
	// is the base of the absolute URLs answers give (next_url, Link, blob
	// URLs), whatever the request's Host; else it is the request's own
	// (baseurl.go).
	BaseURL string
	// TrustedProxies are the addresses whose X-Forwarded-Proto and
	// X-Forwarded-Host name the base; TrustForwarded, when set, trusts a
	// request's forwarded headers too (a peer node's, over mutual TLS).
	TrustedProxies []netip.Prefix
	TrustForwarded func(*http.Request) bool

	// Ungated turns the gate off. Only benchmarks set it, to measure what
	// the gate costs; no configuration key reaches it.
	Ungated bool

	mu  sync.Mutex                           // held while a database is opened or all are closed
	dbs atomic.Pointer[map[string]*database] // copied on change: every read looks up without a lock
	// retired are handles dropped after an imported file (import.go):
	// they close their connections as reads return them, and at Close.
	retired []*database
}

// NewReader returns a Reader with default settings.
func NewReader(dir string, pos tablecast.Positions, fence *tablecast.CommitFence) *Reader {
	return &Reader{
		Dir:          dir,
		Positions:    pos,
		Fence:        fence,
		PoolSize:     DefaultPoolSize,
		Cache:        NewCache(DefaultCacheBytes),
		Logger:       slog.Default(),
		SQLTimeLimit: DefaultSQLTimeLimit,
		SQLMaxRows:   DefaultSQLMaxRows,
		SQLPoolSize:  DefaultSQLPoolSize,

		FacetTimeLimit: DefaultFacetTimeLimit,
	}
}

// database is one open database and the gate's last snapshot of it.
type database struct {
	name string
	path string
	db   *sql.DB
	last atomic.Pointer[snapshot] // newest pinned; never goes backwards
	pins pinGroup

	sqlOnce sync.Once
	sqlDB   *sql.DB       // public SQL's connections, opened on first use
	shadows *gate.Shadows // public SQL's: anonymous (public set) and read tokens' (private view)

	retired atomic.Bool            // dropped after an import (import.go)
	sqlOpen atomic.Pointer[sql.DB] // sqlDB once open, for retire
}

// Close closes every read connection.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first error
	if dbs := r.dbs.Swap(nil); dbs != nil {
		for name, d := range *dbs {
			if err := d.close(); err != nil && first == nil {
				first = fmt.Errorf("close %s: %w", name, err)
			}
		}
	}
	for _, d := range r.retired {
		if err := d.close(); err != nil && first == nil {
			first = fmt.Errorf("close %s: %w", d.name, err)
		}
	}
	r.retired = nil
	return first
}

// database returns the open handle of a database this node has.
func (r *Reader) database(name string) (*database, error) {
	if tablecast.ValidateDBName(name) != nil {
		return nil, gate.NotFound(name, "")
	}
	if d := r.openDB(name); d != nil {
		return d, nil
	}
	if _, ok := r.Positions.TXID(name); !ok {
		return nil, gate.NotFound(name, "")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := r.openDB(name); d != nil {
		return d, nil
	}
	path := filepath.Join(r.Dir, tablecast.DBFileName(name))
	db, err := openReadOnly("sqlite3", path, r.PoolSize, "")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	d := &database{name: name, path: path, db: db, shadows: gate.NewShadows()}
	dbs := map[string]*database{name: d}
	if old := r.dbs.Load(); old != nil {
		for k, v := range *old {
			dbs[k] = v
		}
	}
	r.dbs.Store(&dbs)
	return d, nil
}

// openDB is the open database named name, nil if it is not open.
func (r *Reader) openDB(name string) *database {
	if dbs := r.dbs.Load(); dbs != nil {
		return (*dbs)[name]
	}
	return nil
}

// openReadOnly opens a pool of read-only connections to a database file.
// mode=ro: the read path never writes; busy_timeout: replicas apply
// transactions under a lock, and readers wait for it.
func openReadOnly(driver, path string, size int, extra string) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_busy_timeout=5000&_txlock=deferred" + extra
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(size)
	db.SetMaxIdleConns(size)
	return db, nil
}

func (d *database) close() error {
	err := d.db.Close()
	if d.sqlDB != nil {
		if err2 := d.sqlDB.Close(); err == nil {
			err = err2
		}
	}
	d.shadows.Close()
	return err
}

// beginner begins transactions: a pool (*sql.DB) or one connection.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// read runs fn in one read transaction of database name, with the gate's
// snapshot at the TXID that transaction reads. fn sees only what the gate
// allows because it asks the snapshot first. For a read token's request
// (readsPrivate), fn gets the snapshot's private view instead; the
// snapshot returned, and kept as the database's last, is the public one.
func (r *Reader) read(ctx context.Context, d *database, fn func(*readTx) error) (*snapshot, error) {
	if r.Ungated {
		return r.readUngated(ctx, d, fn)
	}
	if readsPrivate(ctx) {
		fn = privateRead(ctx, fn)
	}
	return r.readOn(ctx, d, d.db, nil, fn)
}

// readOn is read on pool b; conn, when not nil, is the connection b is.
func (r *Reader) readOn(ctx context.Context, d *database, b beginner, conn *sql.Conn, fn func(*readTx) error) (*snapshot, error) {
	for range maxPinAttempts {
		tx, s, err := r.pin(ctx, d, b)
		if errors.Is(err, errMoved) {
			continue
		} else if err != nil {
			return nil, err
		}
		err = fn(&readTx{tx: tx, conn: conn, s: s})
		_ = tx.Rollback()
		r.afterImport(d, s)
		return s, err
	}
	return nil, tablecast.Errorf(tablecast.EUNAVAILABLE, "Database %s is changing too fast to read, try again", d.name)
}

var errMoved = errors.New("txid moved while pinning snapshot")

// pin begins a read transaction whose snapshot is exactly the database at
// one TXID, and returns the gate's snapshot at that TXID. The TXID is read
// before and after the transaction's first statement; if it moved, the
// snapshot's TXID is unknown and the caller tries again.
func (r *Reader) pin(ctx context.Context, d *database, b beginner) (*sql.Tx, *snapshot, error) {
	r.Fence.LockSnapshot()
	defer r.Fence.UnlockSnapshot()
	before, ok := r.Positions.TXID(d.name)
	if !ok {
		return nil, nil, gate.NotFound(d.name, "")
	}
	tx, err := b.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("begin read: %w", err)
	}
	s := d.last.Load()
	if s != nil && s.TXID == before {
		// The gate is known at this TXID: one cheap statement pins it.
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM sqlite_master LIMIT 1`).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
	} else {
		s, err = gate.Load(ctx, tx, before, s)
	}
	if err != nil {
		_ = tx.Rollback()
		return nil, nil, fmt.Errorf("pin snapshot: %w", err)
	}
	if after, _ := r.Positions.TXID(d.name); after != before {
		_ = tx.Rollback()
		return nil, nil, errMoved
	}
	d.setLast(s)
	return tx, s, nil
}

// readUngated is read without the gate's snapshot checks: the schema is
// loaded once and reused whatever the TXID. Benchmarks only.
func (r *Reader) readUngated(ctx context.Context, d *database, fn func(*readTx) error) (*snapshot, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	s := d.last.Load()
	if s == nil {
		if s, err = gate.Load(ctx, tx, 0, nil); err != nil {
			return nil, err
		}
		d.setLast(s)
	}
	return s, fn(&readTx{tx: tx, s: s})
}

package primary

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
)

// handle is an open database and what tablecast has done to it.
type handle struct {
	db   *sql.DB
	meta atomic.Bool // tablecast's own tables exist
}

// path returns the file of a database.
func (w *Writer) path(db string) string {
	return filepath.Join(w.Dir, tablecast.DBFileName(db))
}

// dsn returns the mattn/go-sqlite3 DSN of a database file. Only create
// may make a new file.
func dsn(path string, create bool) string {
	mode := "rw"
	if create {
		mode = "rwc"
	}
	u := url.URL{Path: path}
	return "file:" + u.EscapedPath() + "?mode=" + mode +
		"&_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate&_foreign_keys=on"
}

// fileExists reports whether a database's file exists.
func (w *Writer) fileExists(db string) (bool, error) {
	_, err := os.Stat(w.path(db))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("stat database: %w", err)
	}
	return true, nil
}

// open returns the handle of a database, opening it on first use. Without
// create, a database whose file does not exist is ENOTFOUND.
func (w *Writer) open(db string, create bool) (*handle, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, tablecast.Errorf(tablecast.EUNAVAILABLE, "Writer is closed")
	}
	exists, err := w.fileExists(db)
	if err != nil {
		return nil, err
	}
	if !exists {
		w.forget(db) // the file went away under a cached handle
		if !create {
			return nil, tablecast.Errorf(tablecast.ENOTFOUND, "Database not found: %s", db)
		}
	}
	if h := w.dbs[db]; h != nil {
		return h, nil
	}
	h, err := openHandle(w.path(db), create)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", db, err)
	}
	if w.dbs == nil {
		w.dbs = make(map[string]*handle)
	}
	w.dbs[db] = h
	return h, nil
}

// openHandle opens a database file with one connection: SQLite has one
// writer at a time anyway, and the pool then queues writes in order.
func openHandle(path string, create bool) (*handle, error) {
	db, err := sql.Open("sqlite3", dsn(path, create))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &handle{db: db}, nil
}

// forget closes and drops the cached handle of a database. w.mu is held.
func (w *Writer) forget(db string) {
	if h := w.dbs[db]; h != nil {
		if err := h.db.Close(); err != nil {
			w.logger().Warn("close database", "db", db, "err", err)
		}
		delete(w.dbs, db)
	}
}

// remove closes a database and deletes its files: the undo of a create
// that made a new file and then failed.
func (w *Writer) remove(db string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.forget(db)
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Remove(w.path(db) + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove database file: %w", err)
		}
	}
	return nil
}

// write runs fn in a write transaction of db, creating tablecast's tables
// first if needed, and commits. It returns the TXID of the commit.
func (w *Writer) write(ctx context.Context, db string, h *handle, fn func(*sql.Tx) error) (tablecast.TXID, error) {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, sqliteError("begin", err)
	}
	defer func() { _ = tx.Rollback() }()
	if !h.meta.Load() {
		if err := createMeta(ctx, tx); err != nil {
			return 0, err
		}
	}
	if err := fn(tx); err != nil {
		return 0, err
	}
	txid, err := w.commit(tx, db)
	if err != nil {
		return 0, err
	}
	h.meta.Store(true)
	return txid, nil
}

// commit commits tx and reads the TXID it made, under the commit fence so
// that no reader pins a snapshot between the two. The position (TXID and
// checksum) is remembered for a synchronous write's confirmation.
func (w *Writer) commit(tx *sql.Tx, db string) (tablecast.TXID, error) {
	w.Fence.LockCommit()
	defer w.Fence.UnlockCommit()
	if w.CanCommit != nil {
		if err := w.CanCommit(); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, commitError(err)
	}
	if pr, ok := w.Positions.(tablecast.PosReader); ok {
		pos, _ := pr.Pos(db)
		w.committed.add(db, pos)
		return pos.TXID, nil
	}
	txid, _ := w.Positions.TXID(db)
	return txid, nil
}

// commitError says what a failed COMMIT left behind. LiteFS refuses every
// write to the WAL once this node is no longer the primary (EACCES, which
// SQLite reports as a disk I/O error): the commit frame was never written,
// so nothing was committed. A busy or read-only database, a constraint
// checked at commit, or a request that ended first, commit nothing either.
// Any other failure may have come after the commit frame was written: the
// write may or may not have been applied (502).
func commitError(err error) error {
	var se sqlite3.Error
	switch {
	case errors.As(err, &se) && se.Code == sqlite3.ErrIoErr && (se.SystemErrno == syscall.EACCES || se.SystemErrno == syscall.EROFS),
		errors.As(err, &se) && se.Code == sqlite3.ErrReadonly:
		return tablecast.Errorf(tablecast.EUNAVAILABLE, "This node stopped being the primary before the commit: nothing was written, retry")
	case errors.As(err, &se) && (se.Code == sqlite3.ErrConstraint || se.Code == sqlite3.ErrBusy):
		return sqliteError("commit", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, sql.ErrTxDone):
		return tablecast.Errorf(tablecast.EUNAVAILABLE, "The request ended before the commit: nothing was written")
	}
	return tablecast.Errorf(tablecast.EINDOUBT, "The commit failed (%v): the write may or may not have been applied", err)
}

// committedPositions remembers the last positions committed per database,
// so that a synchronous write can ask for exactly its own (TXID and
// checksum) after the fence is released.
type committedPositions struct {
	mu  sync.Mutex
	dbs map[string][]tablecast.Pos // newest last, at most keepCommitted
}

const keepCommitted = 256

func (c *committedPositions) add(db string, pos tablecast.Pos) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dbs == nil {
		c.dbs = map[string][]tablecast.Pos{}
	}
	list := append(c.dbs[db], pos)
	if len(list) > keepCommitted {
		list = append(list[:0:0], list[len(list)-keepCommitted/2:]...)
	}
	c.dbs[db] = list
}

// pos is the position committed at txid, if still remembered.
func (c *committedPositions) pos(db string, txid tablecast.TXID) (tablecast.Pos, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.dbs[db]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].TXID == txid {
			return list[i], true
		}
	}
	return tablecast.Pos{}, false
}

// sqliteError gives codes to the SQLite errors a client can cause or retry.
func sqliteError(op string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrConstraint:
			return tablecast.Errorf(tablecast.EINVALID, "%s", se.Error())
		case sqlite3.ErrReadonly:
			return tablecast.Errorf(tablecast.EUNAVAILABLE, "Database is read-only: this node is not the primary")
		case sqlite3.ErrBusy:
			return tablecast.Errorf(tablecast.EUNAVAILABLE, "Database is busy, try again")
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

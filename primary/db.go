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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// handle is an open database and what tablecast has done to it.
type handle struct {
	db    *sql.DB
	meta  atomic.Bool // tablecast's own tables exist
	queue commitQueue // writes waiting for a transaction (group.go)
}

// path returns the file of a database.
func (w *Writer) path(db string) string {
	return filepath.Join(w.Dir, tablecast.DBFileName(db))
}

// dsn returns the mattn/go-sqlite3 DSN of a database file. Only create
// may make a new file.
//
// synchronous=NORMAL loses no durability on the LiteFS mount: SQLite's
// COMMIT ends with the unlock of the WAL write lock, and LiteFS's handler
// of that unlock (DB.CommitWAL) fsyncs the WAL itself, then the LTX file
// and its folder, before it returns; checkpoints still sync the WAL
// before and the database after. FULL only adds one fsync per commit
// through FUSE (SQLite's own, of the same WAL).
func dsn(path string, create bool) string {
	mode := "rw"
	if create {
		mode = "rwc"
	}
	u := url.URL{Path: path}
	return "file:" + u.EscapedPath() + "?mode=" + mode +
		"&_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000&_txlock=immediate&_foreign_keys=on"
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
		return nil, tablecast.Errorf(tablecast.EUNAVAILABLE, "Writer is closed (this node is shutting down): nothing was written, retry")
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

var errMaybeApplied = tablecast.Errorf(tablecast.EUNKNOWN, "The commit failed: the write may or may not have been applied; read before retrying")

// committed reports whether the transaction that set the write counter to
// mark is in the database: COMMIT can report an error after the commit
// itself succeeded (SQLite returns a failed automatic WAL checkpoint from
// the COMMIT that triggered it), or fail before it. An error means the
// counter could not be read: nobody knows.
func committed(h *handle, mark int64) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got int64
	err := h.db.QueryRowContext(ctx, gate.WriteCounterSQL).Scan(&got)
	var se sqlite3.Error
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil // a new database's first write, rolled back
	case errors.As(err, &se) && se.Code == sqlite3.ErrError && strings.Contains(se.Error(), "no such table"):
		return false, nil
	case err != nil:
		return false, err
	}
	return got == mark, nil
}

// diskError turns an I/O error into EFULL when the disk is short of space:
// through FUSE, LiteFS reports a full disk to SQLite as EIO, not ENOSPC.
func (w *Writer) diskError(err error) error {
	var se sqlite3.Error
	if w.Space == nil || !errors.As(err, &se) || se.Code != sqlite3.ErrIoErr || !w.Space.Short() {
		return err
	}
	return tablecast.Errorf(tablecast.EFULL, "Insufficient storage on the primary: the disk is full, nothing was written. Reads go on; writes resume once space is freed")
}

// commit commits tx and reads the TXID it made, under the commit fence so
// that no reader pins a snapshot between the two. The position (TXID and
// checksum) is remembered for a synchronous write's confirmation.
func (w *Writer) commit(tx *sql.Tx, db string) (tablecast.TXID, error) {
	return w.commitChecked(tx, db, nil, 0)
}

// commitChecked is commit; with h, a COMMIT that reports an error is
// checked against the write counter (see committed): without h, such a
// failure may or may not have committed.
func (w *Writer) commitChecked(tx *sql.Tx, db string, h *handle, mark int64) (tablecast.TXID, error) {
	w.Fence.LockCommit()
	defer w.Fence.UnlockCommit()
	if w.CanCommit != nil {
		if err := w.CanCommit(); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		if errors.Is(err, sql.ErrTxDone) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return 0, w.rolledBack(db, err)
		}
		if h == nil { // no counter: only known causes say nothing was written
			cerr := commitError(err)
			if cerr == errMaybeApplied {
				w.logger().Error("commit failed: outcome unknown", "db", db, "err", err)
			}
			return 0, cerr
		}
		done, verr := committed(h, mark)
		switch {
		case verr != nil:
			w.logger().Error("commit failed and the database cannot tell whether it committed", "db", db, "err", err, "check_err", verr)
			return 0, errMaybeApplied
		case done:
			// Committed: the error came after (a WAL checkpoint).
			w.logger().Warn("COMMIT reported an error after the transaction committed", "db", db, "err", err)
		default:
			return 0, w.diskError(w.rolledBack(db, err))
		}
	}
	if pr, ok := w.Positions.(tablecast.PosReader); ok {
		pos, _ := pr.Pos(db)
		w.committed.add(db, pos)
		return pos.TXID, nil
	}
	txid, _ := w.Positions.TXID(db)
	return txid, nil
}

// commitError says what a failed COMMIT that cannot be checked against
// the write counter left behind: a request that ended first, and the
// causes sqliteError knows (LiteFS refusing the WAL write once this node
// is no longer the primary, read-only, busy, a constraint, disk full)
// committed nothing; any other failure may have come after the commit
// frame was written (502).
func commitError(err error) error {
	if errors.Is(err, sql.ErrTxDone) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return tablecast.Errorf(tablecast.EUNAVAILABLE, "The request ended before the write was committed: nothing was written")
	}
	if cerr := sqliteError("commit", err); tablecast.ErrorCode(cerr) != tablecast.EINTERNAL {
		return cerr
	}
	return errMaybeApplied
}

// rolledBack gives its code to a failed COMMIT known not to have
// committed (a cancelled request's transaction is rolled back before
// COMMIT runs; otherwise commit checked the write counter).
func (w *Writer) rolledBack(db string, err error) error {
	if errors.Is(err, sql.ErrTxDone) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return tablecast.Errorf(tablecast.EUNAVAILABLE, "The request ended before the write was committed: nothing was written")
	}
	err = sqliteError("commit", err)
	if tablecast.ErrorCode(err) != tablecast.EINTERNAL {
		return err
	}
	return fmt.Errorf("commit rolled back: %w", err) // a 500 saying nothing was written
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

// sqliteError gives codes to the SQLite errors a client can cause or
// retry, and says what happened to the write: a statement that fails
// with these leaves nothing written (SQLite rolls back on disk full).
func sqliteError(op string, err error) error {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch {
	case se.Code == sqlite3.ErrFull, se.SystemErrno == syscall.ENOSPC, se.SystemErrno == syscall.EDQUOT:
		return tablecast.Errorf(tablecast.EFULL, "Insufficient storage on the primary: the disk is full, nothing was written. Reads go on; writes resume once space is freed")
	case se.Code == sqlite3.ErrConstraint:
		return tablecast.Errorf(tablecast.EINVALID, "%s", se.Error())
	case se.Code == sqlite3.ErrReadonly, se.Code == sqlite3.ErrPerm,
		se.SystemErrno == syscall.EROFS, se.SystemErrno == syscall.EACCES, se.SystemErrno == syscall.EPERM:
		// LiteFS makes the database read-only (EACCES/EPERM through
		// FUSE) once this node lost the lease.
		return tablecast.Errorf(tablecast.EUNAVAILABLE, "Database is read-only: this node is not the primary (any more); nothing was written, retry")
	case se.Code == sqlite3.ErrBusy, se.Code == sqlite3.ErrLocked:
		return tablecast.Errorf(tablecast.EUNAVAILABLE, "Database is busy: nothing was written, retry")
	}
	return fmt.Errorf("%s: %w", op, err)
}

package primary

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tablecast/tablecast"
)

// ControlDBName names tablecast's own database, the file _tablecast.db on
// the LiteFS mount: tokens, admin sessions and the admin audit log. LiteFS
// replicates it like any database, so every candidate has it and tokens
// survive a failover. Its leading '_' makes it an invalid database name:
// the read path can never serve it and the write routes refuse it.
const ControlDBName = "_tablecast"

// controlSchema creates the tables of _tablecast.db. Secrets and session
// IDs are kept only as SHA-256 hashes.
const controlSchema = `
CREATE TABLE IF NOT EXISTS tokens (
	name TEXT PRIMARY KEY,
	hash TEXT NOT NULL UNIQUE,
	scopes TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT,
	revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
	hash TEXT PRIMARY KEY,
	token_name TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
	id INTEGER PRIMARY KEY,
	at TEXT NOT NULL,
	token_name TEXT NOT NULL,
	action TEXT NOT NULL,
	db TEXT NOT NULL DEFAULT '',
	target TEXT NOT NULL DEFAULT '',
	txid TEXT NOT NULL DEFAULT ''
);`

// Actions of the admin audit log besides publish and unpublish.
const (
	auditTokenCreate = "token-create"
	auditTokenRevoke = "token-revoke"
	auditSignIn      = "sign-in"
	auditSignOut     = "sign-out"
)

// ControlDB is _tablecast.db. Any node reads it (token checks on replicas
// serve the cluster routes); only the primary writes it, through the
// Writer's commit fence and lease check.
type ControlDB struct {
	w  *Writer
	mu sync.Mutex
	ro *sql.DB // read-only pool, opened once the file exists
}

// Control returns the Writer's _tablecast.db.
func (w *Writer) Control() *ControlDB {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.control == nil {
		w.control = &ControlDB{w: w}
	}
	return w.control
}

// reader returns the read-only pool, nil while the file does not exist.
func (c *ControlDB) reader() (*sql.DB, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ro != nil {
		return c.ro, nil
	}
	if exists, err := c.w.fileExists(ControlDBName); err != nil || !exists {
		return nil, err
	}
	u := url.URL{Path: c.w.path(ControlDBName)}
	db, err := sql.Open("sqlite3", "file:"+u.EscapedPath()+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", ControlDBName, err)
	}
	db.SetMaxOpenConns(4)
	c.ro = db
	return db, nil
}

func (c *ControlDB) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ro == nil {
		return nil
	}
	err := c.ro.Close()
	c.ro = nil
	return err
}

// queryRow runs a one-row query on the read pool; ok is false when the
// database, its tables or the row do not exist yet.
func (c *ControlDB) queryRow(ctx context.Context, q string, args []any, dest ...any) (ok bool, err error) {
	db, err := c.reader()
	if err != nil || db == nil {
		return false, err
	}
	err = db.QueryRowContext(ctx, q, args...).Scan(dest...)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows), isNoSuchTable(err):
		return false, nil
	}
	return false, controlError("read "+ControlDBName, err)
}

// query runs a query on the read pool; scan is called for each row. A
// database or table that does not exist yet has no rows.
func (c *ControlDB) query(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error {
	db, err := c.reader()
	if err != nil || db == nil {
		return err
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if isNoSuchTable(err) {
		return nil
	} else if err != nil {
		return controlError("read "+ControlDBName, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return controlError("read "+ControlDBName, rows.Err())
}

// isNoSuchTable: the file exists but no transaction has created the tables.
func isNoSuchTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table")
}

// controlError makes read failures retryable: a replica applying a
// transaction may hold the database for a moment.
func controlError(op string, err error) error {
	if err == nil {
		return nil
	}
	return tablecast.Errorf(tablecast.EUNAVAILABLE, "Cannot %s now, try again: %v", op, err)
}

// write runs fn in a write transaction of _tablecast.db, creating the file
// and its tables if needed. Primary only.
func (c *ControlDB) write(ctx context.Context, fn func(*sql.Tx) error) (tablecast.TXID, error) {
	if c.w.Space != nil {
		if err := c.w.Space.CheckControl(); err != nil {
			return 0, err
		}
	}
	h, err := c.w.open(ControlDBName, true)
	if err != nil {
		return 0, err
	}
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, sqliteError("begin", err)
	}
	defer func() { _ = tx.Rollback() }()
	if !h.meta.Load() {
		if _, err := tx.ExecContext(ctx, controlSchema); err != nil {
			return 0, sqliteError("create "+ControlDBName+" tables", err)
		}
	}
	if err := fn(tx); err != nil {
		return 0, err
	}
	txid, err := c.w.commit(tx, ControlDBName)
	if err != nil {
		return 0, err
	}
	h.meta.Store(true)
	return txid, nil
}

// tokenRecord is a row of tokens.
type tokenRecord struct {
	name      string
	scopes    []string
	createdAt string
	expiresAt string // "" never
	revokedAt string // "" not revoked
}

// Token states.
const (
	stateActive  = "active"
	stateExpired = "expired"
	stateRevoked = "revoked"
)

func (r tokenRecord) state(now time.Time) string {
	switch {
	case r.revokedAt != "":
		return stateRevoked
	case r.expiresAt != "" && !now.Before(parseTime(r.expiresAt)):
		return stateExpired
	}
	return stateActive
}

const tokenColumns = `name, scopes, created_at, coalesce(expires_at, ''), coalesce(revoked_at, '')`

func scanToken(scan func(...any) error) (tokenRecord, error) {
	var r tokenRecord
	var scopes string
	err := scan(&r.name, &scopes, &r.createdAt, &r.expiresAt, &r.revokedAt)
	r.scopes = strings.Split(scopes, ",")
	return r, err
}

func (c *ControlDB) tokenByHash(ctx context.Context, hash string) (tokenRecord, bool, error) {
	return c.tokenWhere(ctx, "hash = ?", hash)
}

func (c *ControlDB) tokenByName(ctx context.Context, name string) (tokenRecord, bool, error) {
	return c.tokenWhere(ctx, "name = ?", name)
}

func (c *ControlDB) tokenWhere(ctx context.Context, where string, arg string) (tokenRecord, bool, error) {
	var r tokenRecord
	var scopes string
	ok, err := c.queryRow(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE "+where, []any{arg},
		&r.name, &scopes, &r.createdAt, &r.expiresAt, &r.revokedAt)
	r.scopes = strings.Split(scopes, ",")
	return r, ok, err
}

func (c *ControlDB) tokens(ctx context.Context) ([]tokenRecord, error) {
	var out []tokenRecord
	err := c.query(ctx, "SELECT "+tokenColumns+" FROM tokens ORDER BY created_at, name", nil, func(rows *sql.Rows) error {
		r, err := scanToken(rows.Scan)
		out = append(out, r)
		return err
	})
	return out, err
}

// AuditEntry is a row of the admin audit log: who (a token's name) did
// what, when, and the TXID of the change it made, if any.
type AuditEntry struct {
	ID     int64  `json:"id"`
	At     string `json:"at"`
	Token  string `json:"token"`
	Action string `json:"action"`
	DB     string `json:"db,omitempty"`
	Target string `json:"target,omitempty"` // a table or a token's name
	TXID   string `json:"txid,omitempty"`   // of the change in DB
}

// appendAudit adds an entry inside a write transaction of _tablecast.db.
func appendAudit(ctx context.Context, tx *sql.Tx, e AuditEntry) error {
	if e.At == "" {
		e.At = timestamp()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit (at, token_name, action, db, target, txid) VALUES (?, ?, ?, ?, ?, ?)`,
		e.At, e.Token, e.Action, e.DB, e.Target, e.TXID)
	if err != nil {
		return sqliteError("append audit", err)
	}
	return nil
}

// Audit returns up to limit entries older than entry before (0: the
// newest), newest first.
func (c *ControlDB) Audit(ctx context.Context, before int64, limit int) ([]AuditEntry, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	var out []AuditEntry
	q := `SELECT id, at, token_name, action, db, target, txid FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?`
	err := c.query(ctx, q, []any{before, limit}, func(rows *sql.Rows) error {
		var e AuditEntry
		err := rows.Scan(&e.ID, &e.At, &e.Token, &e.Action, &e.DB, &e.Target, &e.TXID)
		out = append(out, e)
		return err
	})
	return out, err
}

// sessionRecord is a row of sessions.
type sessionRecord struct {
	token     string
	expiresAt time.Time
}

func (c *ControlDB) session(ctx context.Context, hash string) (sessionRecord, bool, error) {
	var s sessionRecord
	var expires string
	ok, err := c.queryRow(ctx, `SELECT token_name, expires_at FROM sessions WHERE hash = ?`, []any{hash}, &s.token, &expires)
	s.expiresAt = parseTime(expires)
	return s, ok, err
}

// openSession stores a new session and drops expired ones.
func (c *ControlDB) openSession(ctx context.Context, hash, token string, expires time.Time) error {
	_, err := c.write(ctx, func(tx *sql.Tx) error {
		now := timestamp()
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, now); err != nil {
			return sqliteError("drop expired sessions", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (hash, token_name, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			hash, token, now, formatTime(expires)); err != nil {
			return sqliteError("open session", err)
		}
		return appendAudit(ctx, tx, AuditEntry{At: now, Token: token, Action: auditSignIn})
	})
	return err
}

func (c *ControlDB) closeSession(ctx context.Context, hash, token string) error {
	_, err := c.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, hash); err != nil {
			return sqliteError("close session", err)
		}
		return appendAudit(ctx, tx, AuditEntry{Token: token, Action: auditSignOut})
	})
	return err
}

// parseTime parses a stored timestamp; a bad one is the zero time, which
// makes an expiry already past.
func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// formatTime is the stored form of a time: UTC, RFC 3339, milliseconds.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

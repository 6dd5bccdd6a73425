package primary

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tablecast/tablecast"
)

// Defaults for Imports.
const (
	DefaultMaxImport  int64 = 4 << 30 // bytes of an imported SQLite file
	DefaultImportWait       = 30 * time.Second
)

// Imports serves POST /{db}/-/import: a whole SQLite file, streamed to a
// temporary file, checked, prepared (tablecast's tables, everything
// private unless keep_public) and brought into LiteFS in one transaction.
type Imports struct {
	// Import replaces the content of database db with the SQLite file at
	// path, in one LiteFS transaction (fsmount.Mount.Import), creating the
	// database if needed. It returns the TXID of that transaction.
	Import func(ctx context.Context, db, path string) (tablecast.TXID, error)
	// Nodes reports every node with the TXID it has applied of each
	// database (as the admin page's "Applied?"); nil: this node alone.
	Nodes func(ctx context.Context) ([]NodeState, error)
	// MaxBytes limits the file (tablecast.max-import-bytes).
	MaxBytes int64
	// TempDir holds the file while it is checked and prepared: a local
	// disk, never the FUSE mount. Its file system should be one of the
	// free-space floor's (the node puts it under data.dir).
	TempDir string
	// Wait bounds the wait for every node to apply the import.
	Wait time.Duration
}

// importOptions are the query parameters of an import.
type importOptions struct {
	replace    bool // an existing database is replaced
	keepPublic bool // the file's _public_tables is honoured
}

// parseImportOptions reads replace and keep_public; any other parameter,
// or a value that is not a boolean, is refused.
func parseImportOptions(u *url.URL) (importOptions, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return importOptions{}, tablecast.Errorf(tablecast.EINVALID, "Bad query string: %s", err)
	}
	var o importOptions
	for name, vals := range q {
		var dst *bool
		switch name {
		case "replace":
			dst = &o.replace
		case "keep_public":
			dst = &o.keepPublic
		default:
			return importOptions{}, tablecast.Errorf(tablecast.EINVALID, "Unknown parameter %q: an import takes replace and keep_public", name)
		}
		if len(vals) != 1 {
			return importOptions{}, tablecast.Errorf(tablecast.EINVALID, "Parameter %s given %d times", name, len(vals))
		}
		switch vals[0] {
		case "1", "true", "on", "":
			*dst = true
		case "0", "false", "off":
			*dst = false
		default:
			return importOptions{}, tablecast.Errorf(tablecast.EINVALID, "Parameter %s must be 1 or 0, not %q", name, vals[0])
		}
	}
	return o, nil
}

// serveImport answers POST /{db}/-/import.
func (w *Writer) serveImport(rw http.ResponseWriter, r *http.Request, rt route) {
	status, body, err := w.importDB(rw, r, rt)
	if err != nil {
		switch tablecast.ErrorCode(err) {
		case tablecast.EUNAUTHORIZED:
			rw.Header().Set("WWW-Authenticate", "Bearer")
		case tablecast.EINTERNAL:
			if r.Context().Err() == nil {
				w.logger().Error("import failed", "db", rt.db, "err", err)
			}
			err = errImportFailed
		}
		tablecast.WriteError(rw, r, w.logger(), err)
		return
	}
	body["ok"] = true
	rw.Header().Set(tablecast.HeaderTXID, body["txid"].(string))
	tablecast.WriteJSON(rw, status, body)
}

var errImportFailed = tablecast.Errorf(tablecast.EINTERNAL, "Internal error: nothing was imported")

// importDB runs an import: authorize, check names and space, receive the
// file, check and prepare it, bring it in, wait for the replicas.
func (w *Writer) importDB(rw http.ResponseWriter, r *http.Request, rt route) (int, map[string]any, error) {
	p, err := w.Tokens.Authorize(r, rt.scope())
	if err != nil {
		return 0, nil, err
	}
	if err := rt.validate(); err != nil {
		return 0, nil, err
	}
	opts, err := parseImportOptions(r.URL)
	if err != nil {
		return 0, nil, err
	}
	im := w.Imports
	if im == nil || im.Import == nil {
		return 0, nil, tablecast.Errorf(tablecast.EUNAVAILABLE, "Import is not available on this node")
	}
	// Refuse what can be refused before the body is read.
	if err := w.importAllowed(rt.db, opts); err != nil {
		return 0, nil, err
	}
	limit := im.maxBytes()
	if r.ContentLength > limit {
		return 0, nil, importTooLarge(limit)
	}
	if err := w.importRoom(r.ContentLength); err != nil {
		return 0, nil, err
	}
	// The file takes longer than the server's read timeout (made for
	// small write bodies): this request alone reads without a deadline;
	// the size limit and the client's connection bound it.
	_ = http.NewResponseController(rw).SetReadDeadline(time.Time{})
	phases := importPhases{last: time.Now()}
	path, size, err := w.receive(r.Body, limit)
	phases.mark("receive")
	if path != "" {
		defer removeSQLiteFiles(path)
	}
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	if err := checkSQLiteFile(ctx, path, size); err != nil {
		return 0, nil, err
	}
	phases.mark("check")
	prep, err := prepareImport(ctx, path, opts.keepPublic, p.Name)
	if err != nil {
		return 0, nil, err
	}
	phases.mark("prepare")
	txid, existed, err := w.bringIn(ctx, rt.db, path, opts)
	if err != nil {
		return 0, nil, err
	}
	phases.mark("litefs")
	w.auditImport(ctx, p.Name, rt.db, txid)
	// Committed: from here on the answer is a success, whatever the wait says.
	replicas := w.waitImported(ctx, rt.db, txid)
	phases.mark("replicas")
	status := http.StatusCreated
	if existed {
		status = http.StatusOK
	}
	w.logger().Info("import", "db", rt.db, "bytes", size, "replaced", existed, "public", len(prep.Public), "txid", txid, "applied_everywhere", replicas["applied"], "took", phases.String())
	return status, map[string]any{
		"database":       rt.db,
		"txid":           txid.String(),
		"bytes":          size,
		"replaced":       existed,
		"tables":         nonNil(prep.Tables),
		"views":          nonNil(prep.Views),
		"indexes":        prep.Indexes,
		"triggers":       prep.Triggers,
		"public":         nonNil(prep.Public),
		"public_skipped": nonNil(prep.Skipped),
		"public_database": map[string]bool{
			"all_tables": prep.AllTables, "allow_sql": prep.AllowSQL,
		},
		"replicas": replicas,
	}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (im *Imports) maxBytes() int64 {
	if im.MaxBytes <= 0 {
		return DefaultMaxImport
	}
	return im.MaxBytes
}

func (im *Imports) wait() time.Duration {
	if im.Wait <= 0 {
		return DefaultImportWait
	}
	return im.Wait
}

func importTooLarge(limit int64) error {
	return tablecast.Errorf(tablecast.ETOOLARGE, "The file is larger than tablecast.max-import-bytes (%s): nothing was imported", tablecast.FormatBytes(uint64(limit)))
}

// importAllowed refuses an import into an existing database without
// replace (409).
func (w *Writer) importAllowed(db string, opts importOptions) error {
	exists, err := w.fileExists(db)
	if err != nil {
		return err
	}
	if exists && !opts.replace {
		return tablecast.Errorf(tablecast.ECONFLICT, "Database %s exists: import with replace=1 (tablecast import -replace) to replace it; nothing was imported", db)
	}
	return nil
}

// receive streams body into a new temporary file, at most limit bytes,
// checking the free-space floor as it grows. It returns the file's path
// (to remove, even on error) and size.
func (w *Writer) receive(body io.Reader, limit int64) (string, int64, error) {
	dir := w.Imports.TempDir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, fmt.Errorf("import temp dir: %w", err)
	}
	f, err := os.CreateTemp(dir, "import-*.db")
	if err != nil {
		return "", 0, fmt.Errorf("import temp file: %w", err)
	}
	path := f.Name()
	dst := &roomWriter{w: w, f: f}
	n, err := io.Copy(dst, io.LimitReader(body, limit+1))
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close import temp file: %w", cerr)
	}
	switch {
	case dst.err != nil:
		return path, n, dst.err
	case err != nil && errors.Is(err, errNoRoom):
		return path, n, err
	case err != nil:
		return path, n, tablecast.Errorf(tablecast.EINVALID, "Cannot read the file: %s; nothing was imported", err)
	case n > limit:
		return path, n, importTooLarge(limit)
	case n == 0:
		return path, 0, tablecast.Errorf(tablecast.EINVALID, "The body is empty: send the SQLite file; nothing was imported")
	}
	return path, n, nil
}

var errNoRoom = errors.New("no room")

// roomWriter writes to f and checks, every roomEvery bytes, that the
// disk keeps room for the import (importRoom).
type roomWriter struct {
	w       *Writer
	f       *os.File
	n, next int64
	err     error // the EFULL answer
}

const roomEvery = 16 << 20

func (rw *roomWriter) Write(p []byte) (int, error) {
	if rw.n >= rw.next {
		if err := rw.w.importRoom(rw.n); err != nil {
			rw.err = err
			return 0, errNoRoom
		}
		rw.next = rw.n + roomEvery
	}
	n, err := rw.f.Write(p)
	rw.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("write import temp file: %w", err)
	}
	return n, nil
}

// importRoom refuses (507) an import of size bytes (0 or less: unknown
// yet) when the disk would go below the free-space floor: the file is on
// disk up to three times (the temporary file, LiteFS's LTX file, the
// database), all under data.dir.
func (w *Writer) importRoom(size int64) error {
	if w.Space == nil {
		return nil
	}
	if err := w.Space.Check(false); err != nil {
		return err
	}
	if size <= 0 {
		return nil
	}
	need := 3 * uint64(size)
	w.Space.mu.Lock()
	w.Space.checked = time.Time{} // read afresh
	w.Space.mu.Unlock()
	free, err := w.Space.least()
	if err != nil {
		return nil // as Check: the import reports what the disk does
	}
	if free < w.Space.MinFree+need {
		return tablecast.Errorf(tablecast.EFULL,
			"Insufficient storage on the primary: nothing was imported. An import of %s needs %s free (the file up to three times, plus tablecast.min-free-bytes), %s is left",
			tablecast.FormatBytes(uint64(size)), tablecast.FormatBytes(w.Space.MinFree+need), tablecast.FormatBytes(free))
	}
	return nil
}

// bringIn hands the prepared file to LiteFS as database db, then moves the
// schema cookie (see bumpSchema). It reports whether a database was
// replaced. Imports and creates run one at a time.
func (w *Writer) bringIn(ctx context.Context, db, path string, opts importOptions) (tablecast.TXID, bool, error) {
	w.createMu.Lock()
	defer w.createMu.Unlock()
	if err := w.importAllowed(db, opts); err != nil { // again: a create may have come first
		return 0, false, err
	}
	existed, err := w.fileExists(db)
	if err != nil {
		return 0, false, err
	}
	var cookie int64
	if existed {
		if cookie, err = w.settleCookie(ctx, db); err != nil {
			return 0, false, err
		}
	}
	// The primary's handle reads the old file: drop it.
	w.mu.Lock()
	w.forget(db)
	w.mu.Unlock()
	if w.CanCommit != nil {
		if err := w.CanCommit(); err != nil {
			return 0, false, err
		}
	}
	if w.Space != nil {
		if err := w.Space.Check(false); err != nil {
			return 0, false, err
		}
	}
	w.Fence.LockCommit()
	txid, err := w.Imports.Import(ctx, db, path)
	w.Fence.UnlockCommit()
	if err != nil {
		if !existed {
			if rerr := w.remove(db); rerr != nil {
				w.logger().Warn("remove the database of a failed import", "db", db, "err", rerr)
			}
		}
		return 0, false, w.diskError(fmt.Errorf("litefs import: %w", err))
	}
	// The import counts once this write is in: one that fails (the lease
	// lost meanwhile, say) leaves it unknown whether the cluster has it.
	t, err := w.bumpSchema(ctx, db, cookie)
	if err != nil {
		w.logger().Error("import: the write after LiteFS's import failed", "db", db, "txid", txid, "err", err)
		return 0, false, tablecast.Errorf(tablecast.EUNKNOWN,
			"LiteFS imported the file at TXID %s here, but the write that completes the import failed (%s): the cluster may or may not have it; read the database, and import again with replace if needed",
			txid, tablecast.ErrorMessage(err))
	}
	return t, existed, nil
}

// settleCookie returns the schema cookie of an existing database, moving
// it off 0 first. LiteFS's import sets the cookie to 0 so that open
// connections reload the schema; a connection that cached a schema at
// cookie 0 (an earlier import whose bumpSchema failed) would not.
func (w *Writer) settleCookie(ctx context.Context, db string) (int64, error) {
	h, err := w.open(db, false)
	if err != nil {
		return 0, err
	}
	var cookie int64
	if err := h.db.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&cookie); err != nil {
		return 0, sqliteError("read schema version", err)
	}
	if cookie != 0 {
		return cookie, nil
	}
	if _, err := w.bumpSchema(ctx, db, 0); err != nil {
		return 0, err
	}
	return 1, nil
}

// bumpSchema sets the schema cookie of db, just imported, above the
// replaced file's (cookie): every reader, on every node, then reloads the
// schema and drops what it keyed on the old one (statements, the gate's
// tables, public SQL's root pages and verdicts), even one that last read
// the old file and skips the import's own TXID. It counts as one tablecast
// write (TXID and write counter move together: the cache's offset stays).
func (w *Writer) bumpSchema(ctx context.Context, db string, cookie int64) (tablecast.TXID, error) {
	h, err := w.open(db, false)
	if err != nil {
		return 0, err
	}
	return w.write(ctx, db, h, func(tx *sql.Tx) error {
		var now int64
		if err := tx.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA schema_version = %d", max(now, cookie)+1)); err != nil {
			return err
		}
		return bumpVersions(ctx, tx, tablecast.TableVersionsTable)
	})
}

// auditImport records the import in the admin audit log.
func (w *Writer) auditImport(ctx context.Context, token, db string, txid tablecast.TXID) {
	_, err := w.Control().write(ctx, func(tx *sql.Tx) error {
		return appendAudit(ctx, tx, AuditEntry{Token: token, Action: "import", DB: db, TXID: txid.String()})
	})
	if err != nil {
		w.logger().Warn("audit import", "db", db, "err", err)
	}
}

// waitImported waits, up to Imports.Wait, until every node has applied
// txid of db, and says which have: {"applied": bool, "nodes": [...]}, with
// "error" when the nodes' positions could not be read.
func (w *Writer) waitImported(ctx context.Context, db string, txid tablecast.TXID) map[string]any {
	nodes, done, err := w.waitApplied(ctx, db, txid)
	out := map[string]any{"applied": done, "nodes": nodes}
	if nodes == nil {
		out["nodes"] = []AppliedNode{}
	}
	if err != nil {
		w.logger().Warn("import: read the nodes' positions", "db", db, "err", err)
		out["error"] = "Cannot tell which nodes have applied the import: " + err.Error()
	}
	return out
}

func (w *Writer) waitApplied(ctx context.Context, db string, txid tablecast.TXID) ([]AppliedNode, bool, error) {
	nodes := w.Imports.Nodes
	if nodes == nil {
		nodes = (&Admin{Writer: w}).nodes
	}
	ctx, cancel := context.WithTimeout(ctx, w.Imports.wait())
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last []AppliedNode
	for {
		states, err := nodes(ctx)
		if ctx.Err() != nil && last != nil {
			return last, false, nil // cut short by the deadline: the last full answer
		}
		if err != nil {
			return nil, false, fmt.Errorf("import: read the nodes' positions: %w", err)
		}
		out, done := appliedOn(states, db, txid)
		if done || ctx.Err() != nil {
			return out, done, nil
		}
		last = out
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// importPhases times the steps of an import, for its log line.
type importPhases struct {
	last  time.Time
	steps []string
}

func (p *importPhases) mark(step string) {
	now := time.Now()
	if !p.last.IsZero() {
		p.steps = append(p.steps, fmt.Sprintf("%s %s", step, now.Sub(p.last).Round(time.Millisecond)))
	}
	p.last = now
}

func (p *importPhases) String() string { return strings.Join(p.steps, ", ") }

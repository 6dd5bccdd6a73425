// Package primary is tablecast's write path: the JSON write API (create,
// insert, upsert, delete), publish/unpublish with its audit log, the
// tokens and scopes that guard them, and the admin pages and API. It writes
// into SQLite files in one directory: the LiteFS mount on the primary node.
// Tokens, admin sessions and the admin audit log live in _tablecast.db
// there (see ControlDB).
package primary

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/tablecast/tablecast"
)

// Defaults for Writer.
const (
	DefaultMaxBody int64 = 1 << 20 // bytes of request body
	DefaultMaxRows       = 10000   // rows per request
)

// Writer serves the write routes of every database in Dir.
type Writer struct {
	Dir       string                 // directory holding the database files
	Positions tablecast.Positions    // TXID of a database after a commit
	Fence     *tablecast.CommitFence // held across COMMIT + TXID read
	Tokens    *Tokens
	MaxBody   int64 // request body limit in bytes
	MaxRows   int   // rows per request
	Logger    *slog.Logger

	// CanCommit, when set, is asked under the commit fence right before
	// each COMMIT: a node that lost the primary lease must not commit even
	// if LiteFS has not noticed yet. An error aborts the write.
	CanCommit func() error

	// Sync, when set, makes a write that asks for it (?_sync=1 or header
	// Tablecast-Sync: 1) wait until another candidate has its position
	// (TXID and checksum) before it is acknowledged.
	Sync func(ctx context.Context, db string, pos tablecast.Pos) error

	// Space, when set, refuses writes (507) while the disk under the
	// databases is short of space; see SpaceFloor.
	Space *SpaceFloor

	// Imports, when set, serves POST /{db}/-/import (import.go).
	Imports *Imports

	mu        sync.Mutex
	dbs       map[string]*handle
	committed committedPositions // recent commits' positions, for Sync
	control   *ControlDB         // _tablecast.db, made on first use
	closed    bool
	createMu  sync.Mutex // one /-/create at a time: it may make and undo a file
}

// NewWriter returns a Writer with default limits.
func NewWriter(dir string, pos tablecast.Positions, fence *tablecast.CommitFence, tokens *Tokens) *Writer {
	return &Writer{
		Dir:       dir,
		Positions: pos,
		Fence:     fence,
		Tokens:    tokens,
		MaxBody:   DefaultMaxBody,
		MaxRows:   DefaultMaxRows,
		Logger:    slog.Default(),
		dbs:       make(map[string]*handle),
	}
}

// Close closes every open database. Later writes fail with EUNAVAILABLE.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	var errs []error
	if w.control != nil {
		if err := w.control.close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", ControlDBName, err))
		}
	}
	for name, h := range w.dbs {
		if err := h.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close database %s: %w", name, err))
		}
		delete(w.dbs, name)
	}
	return errors.Join(errs...)
}

// request is an authenticated write request.
type request struct {
	route
	token string // name of the token that signed it
	// canRead: the token may read private tables (read or admin scope);
	// without it, "return": true gives back only what is public.
	canRead bool
	// canAlter: the token holds the schema scope ("alter": true).
	canAlter bool
	body     []byte
}

// result is a committed write: status, TXID and the rest of the JSON body.
type result struct {
	status int
	txid   tablecast.TXID
	body   map[string]any
	// preview: nothing was written (a drop without "confirm"); txid is
	// the position read, and there is nothing to sync.
	preview bool
}

// ServeHTTP serves the write routes; see route for the paths.
func (w *Writer) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	rt, ok := parseRoute(r.URL)
	if !ok {
		tablecast.WriteError(rw, r, w.logger(), tablecast.Errorf(tablecast.ENOTFOUND, "Not found: %s", r.URL.Path))
		return
	}
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		status := http.StatusMethodNotAllowed
		tablecast.WriteJSON(rw, status, map[string]any{"ok": false, "error": "Method not allowed: " + r.Method, "status": status})
		return
	}
	if rt.action == tablecast.ActionImport {
		w.serveImport(rw, r, rt) // a streamed file, not a JSON body
		return
	}
	res, err := w.serve(rw, r, rt)
	if err != nil {
		switch tablecast.ErrorCode(err) {
		case tablecast.EUNAUTHORIZED:
			rw.Header().Set("WWW-Authenticate", "Bearer")
		case tablecast.EINTERNAL:
			// Every failure past COMMIT has its own code (EUNKNOWN, or
			// EUNAVAILABLE for sync): an internal error rolled back.
			if r.Context().Err() == nil {
				w.logger().Error("write failed", "action", rt.action, "db", rt.db, "table", rt.table, "err", err)
			}
			err = errRolledBack
		}
		tablecast.WriteError(rw, r, w.logger(), err)
		return
	}
	res.body["ok"] = true
	res.body["txid"] = res.txid.String()
	rw.Header().Set(tablecast.HeaderTXID, res.txid.String())
	tablecast.WriteJSON(rw, res.status, res.body)
}

// serve authenticates, checks names, reads the body and runs the route.
func (w *Writer) serve(rw http.ResponseWriter, r *http.Request, rt route) (*result, error) {
	p, err := w.Tokens.Authorize(r, rt.scope())
	if err != nil {
		return nil, err
	}
	token := p.Name
	if err := rt.validate(); err != nil {
		return nil, err
	}
	body, err := w.readBody(rw, r)
	if err != nil {
		return nil, err
	}
	if w.Space != nil {
		if err := w.Space.Check(rt.shrinks()); err != nil {
			return nil, err
		}
	}
	req := &request{route: rt, token: token, canRead: p.Has(ScopeRead), canAlter: p.Has(ScopeSchema), body: body}
	res, err := w.run(r.Context(), req)
	if err != nil {
		return nil, err
	}
	if wantsSync(r) && !res.preview {
		if err := w.sync(r.Context(), rt.db, res.txid); err != nil {
			return nil, err
		}
		res.body["synced"] = true
	}
	w.logger().Debug("write", "action", rt.action, "db", rt.db, "table", rt.table, "token", token, "txid", res.txid)
	return res, nil
}

// errRolledBack answers an internal error: the transaction was rolled
// back (tablecast.WriteError shows internal errors as "Internal error").
var errRolledBack = tablecast.Errorf(tablecast.EINTERNAL, "Internal error: nothing was written")

// HeaderSync asks for a write acknowledged only once another candidate has it.
const HeaderSync = "Tablecast-Sync"

func wantsSync(r *http.Request) bool {
	v := r.URL.Query().Get("_sync")
	if v == "" {
		v = r.Header.Get(HeaderSync)
	}
	return v == "1" || v == "true" || v == "on"
}

// sync waits for another candidate to apply txid. The write is committed
// either way; a failure says it may not survive the loss of this node.
func (w *Writer) sync(ctx context.Context, db string, txid tablecast.TXID) error {
	if w.Sync == nil {
		return tablecast.Errorf(tablecast.EUNAVAILABLE, "Write committed at TXID %s, but synchronous writes need a cluster of candidates", txid)
	}
	pos, ok := w.committed.pos(db, txid)
	if !ok {
		return tablecast.Errorf(tablecast.EUNAVAILABLE, "Write committed at TXID %s but not confirmed: its checksum is not known here", txid)
	}
	if err := w.Sync(ctx, db, pos); err != nil {
		return tablecast.Errorf(tablecast.EUNAVAILABLE, "Write committed at TXID %s but not confirmed by another candidate: %v", txid, err)
	}
	return nil
}

func (w *Writer) run(ctx context.Context, req *request) (*result, error) {
	switch req.action {
	case tablecast.ActionCreate:
		return w.create(ctx, req)
	case tablecast.ActionInsert:
		return w.insert(ctx, req)
	case tablecast.ActionUpsert:
		return w.upsert(ctx, req)
	case tablecast.ActionDelete:
		return w.delete(ctx, req)
	case tablecast.ActionPublish:
		return w.publish(ctx, req, true)
	case tablecast.ActionUnpublish:
		return w.publish(ctx, req, false)
	case tablecast.ActionDefineQuery, tablecast.ActionDropQuery, tablecast.ActionPublishQuery,
		tablecast.ActionUnpublishQuery, tablecast.ActionMetadata:
		return w.canned(ctx, req)
	case tablecast.ActionUpdate:
		return w.update(ctx, req)
	case tablecast.ActionDrop:
		return w.drop(ctx, req)
	case tablecast.ActionCreateView, tablecast.ActionCreateIndex, tablecast.ActionDropIndex,
		tablecast.ActionEnableFTS, tablecast.ActionDisableFTS:
		return w.changeSchema(ctx, req)
	case tablecast.ActionExecute:
		return w.execute(ctx, req)
	}
	return nil, tablecast.Errorf(tablecast.ENOTFOUND, "Not found")
}

// readBody reads the whole body, up to MaxBody bytes.
func (w *Writer) readBody(rw http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := w.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, limit))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, tablecast.Errorf(tablecast.ETOOLARGE, "Request body too large: the limit is %d bytes", limit)
	} else if err != nil {
		return nil, tablecast.Errorf(tablecast.EINVALID, "Cannot read request body: %s", err)
	}
	return body, nil
}

func (w *Writer) logger() *slog.Logger {
	if w.Logger == nil {
		return slog.Default()
	}
	return w.Logger
}

func (w *Writer) maxRows() int {
	if w.MaxRows <= 0 {
		return DefaultMaxRows
	}
	return w.MaxRows
}

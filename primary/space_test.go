package primary

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// TestWriter_SpaceFloor: below the floor, writes that add data answer 507
// and write nothing, deletes and unpublish go on down to the reserve, and
// writes resume by themselves once space is back.
func TestWriter_SpaceFloor(t *testing.T) {
	e := newTestEnv(t)
	var free atomic.Uint64
	free.Store(100 << 20)
	var dirs []string
	e.w.Space = &SpaceFloor{Dirs: []string{"/data", "/fuse"}, MinFree: 64 << 20, Logger: e.w.Logger,
		Statfs: func(dir string) (uint64, error) {
			dirs = append(dirs, dir)
			if dir == "/fuse" {
				return free.Load() + 1, nil // the least of the two counts
			}
			return free.Load(), nil
		}}
	e.mustPost("/db/-/create", `{"table": "t", "pk": "id", "rows": [{"id": 1}, {"id": 2}, {"id": 3}]}`, http.StatusCreated)
	e.mustPost("/db/t/-/publish", ``, http.StatusOK)
	if len(dirs) != 6 { // create; publish and its audit entry in _tablecast.db
		t.Errorf("statfs calls %v: want both folders read at each write near the floor", dirs)
	}
	rows := func() string { return e.queryString("db", "SELECT group_concat(id) FROM t") }

	free.Store(64<<20 - 1)
	for _, w := range []struct{ path, body string }{
		{"/db/t/-/insert", `{"row": {"id": 4}}`},
		{"/db/t/-/upsert", `{"row": {"id": 1}}`},
		{"/db/-/create", `{"table": "u", "columns": [{"name": "a"}]}`},
		{"/db/t/-/publish", ``},
	} {
		rec := e.post(w.path, w.body)
		assertError(t, rec, http.StatusInsufficientStorage, "Insufficient storage on the primary: nothing was written")
		assertError(t, rec, http.StatusInsufficientStorage, "Writes need 64.0 MiB free, 64.0 MiB is left")
	}
	if got := rows(); got != "1,2,3" {
		t.Fatalf("rows after refused writes: %s", got)
	}
	e.mustPost("/db/t/3/-/delete", ``, http.StatusOK)
	e.mustPost("/db/t/-/unpublish", ``, http.StatusOK)

	free.Store(32<<20 - 1)
	assertError(t, e.post("/db/t/2/-/delete", ``), http.StatusInsufficientStorage, "Deletes and unpublish need 32.0 MiB free")
	free.Store(64 << 20)
	e.mustPost("/db/t/-/insert", `{"row": {"id": 4}}`, http.StatusCreated)
	if got := rows(); got != "1,2,4" {
		t.Fatalf("rows: %s", got)
	}
}

// TestControl_SpaceFloor: changes of _tablecast.db (tokens, sessions,
// audit) keep the reserve, as deletes do: allowed below the floor, refused
// (507, nothing written) below the reserve.
func TestControl_SpaceFloor(t *testing.T) {
	e := newTestEnv(t)
	var free atomic.Uint64
	e.w.Space = &SpaceFloor{Dirs: []string{"/data"}, MinFree: 64 << 20, Logger: e.w.Logger,
		Statfs: func(string) (uint64, error) { return free.Load(), nil }}
	c := e.w.Control()
	ran := 0
	change := func(*sql.Tx) error { ran++; return nil }
	free.Store(64<<20 - 1) // below the floor, above the reserve
	if _, err := c.write(context.Background(), change); err != nil {
		t.Fatalf("control change below the floor, above the reserve: %v", err)
	}
	free.Store(32<<20 - 1)
	_, err := c.write(context.Background(), change)
	if tablecast.ErrorCode(err) != tablecast.EFULL || !strings.Contains(tablecast.ErrorMessage(err), "Token, session and audit changes need 32.0 MiB free") {
		t.Fatalf("control change below the reserve: %v", err)
	}
	if ran != 1 {
		t.Fatalf("the refused change ran (%d runs)", ran)
	}
}

// TestWriter_SQLiteFull: SQLite's own "database or disk is full" is a 507
// with nothing written, and the database takes writes that fit after it.
func TestWriter_SQLiteFull(t *testing.T) {
	e := newTestEnv(t)
	e.mustPost("/db/-/create", `{"table": "t", "pk": "id", "rows": [{"id": 1, "s": "x"}]}`, http.StatusCreated)
	h, err := e.w.open("db", false)
	if err != nil {
		t.Fatal(err)
	}
	// The writer's one connection: cap the file a few pages above its size.
	var pages int
	if err := h.db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.Exec("PRAGMA max_page_count = " + strconv.Itoa(pages+2)); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 64<<10)
	rec := e.post("/db/t/-/insert", `{"rows": [{"id": 2, "s": "`+big+`"}]}`)
	assertError(t, rec, http.StatusInsufficientStorage, "the disk is full, nothing was written")
	if got := e.queryString("db", "SELECT group_concat(id) FROM t"); got != "1" {
		t.Fatalf("rows after a full disk: %s", got)
	}
	e.mustPost("/db/t/1/-/delete", ``, http.StatusOK)
	e.mustPost("/db/t/-/insert", `{"row": {"id": 3, "s": "small"}}`, http.StatusCreated)
}

// TestErrorMapping: what each failure tells the client about its write.
func TestErrorMapping(t *testing.T) {
	w := &Writer{Logger: newTestEnv(t).w.Logger}
	for _, tc := range []struct {
		err        error
		code, want string
	}{
		{sqlite3.Error{Code: sqlite3.ErrFull}, tablecast.EFULL, "nothing was written"},
		{sqlite3.Error{Code: sqlite3.ErrIoErr, ExtendedCode: sqlite3.ErrIoErrWrite, SystemErrno: syscall.ENOSPC}, tablecast.EFULL, "nothing was written"},
		{sqlite3.Error{Code: sqlite3.ErrReadonly}, tablecast.EUNAVAILABLE, "not the primary (any more); nothing was written, retry"},
		{sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.EACCES}, tablecast.EUNAVAILABLE, "nothing was written"},
		{sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.EPERM}, tablecast.EUNAVAILABLE, "nothing was written"},
		{sqlite3.Error{Code: sqlite3.ErrBusy}, tablecast.EUNAVAILABLE, "nothing was written"},
		{sqlite3.Error{Code: sqlite3.ErrConstraint}, tablecast.EINVALID, ""},
	} {
		for _, err := range []error{sqliteError("op", tc.err), w.rolledBack("db", tc.err)} {
			if tablecast.ErrorCode(err) != tc.code || !strings.Contains(tablecast.ErrorMessage(err), tc.want) {
				t.Errorf("%#v: %v (%s), want %s with %q", tc.err, err, tablecast.ErrorCode(err), tc.code, tc.want)
			}
		}
	}
	// Known not committed, an unknown failure is a rolled-back 500.
	if got := w.rolledBack("db", errors.New("boom")); tablecast.ErrorCode(got) != tablecast.EINTERNAL {
		t.Errorf("commit boom: %v", got)
	}
	if tablecast.StatusOf(tablecast.ErrorCode(errMaybeApplied)) != http.StatusBadGateway ||
		!strings.Contains(tablecast.ErrorMessage(errMaybeApplied), "may or may not have been applied") {
		t.Errorf("errMaybeApplied: %v", errMaybeApplied)
	}
	if got := w.rolledBack("db", sql.ErrTxDone); tablecast.ErrorCode(got) != tablecast.EUNAVAILABLE ||
		!strings.Contains(tablecast.ErrorMessage(got), "nothing was written") {
		t.Errorf("commit after the request ended: %v", got)
	}
}

// TestWriter_InternalErrorSaysNothingWritten: an error with no code,
// before COMMIT, is a 500 that says the write was rolled back.
func TestWriter_InternalErrorSaysNothingWritten(t *testing.T) {
	e := newTestEnv(t)
	e.mustPost("/db/-/create", `{"table": "t", "pk": "id", "rows": [{"id": 1}]}`, http.StatusCreated)
	e.w.CanCommit = func() error { return errors.New("lease check broke") }
	assertError(t, e.post("/db/t/-/insert", `{"row": {"id": 2}}`), http.StatusInternalServerError, "Internal error: nothing was written")
	if got := e.queryString("db", "SELECT group_concat(id) FROM t"); got != "1" {
		t.Fatalf("rows: %s", got)
	}
}

// TestCommitted: after a COMMIT that reports an error, the write counter
// tells whether the transaction is in the database.
func TestCommitted(t *testing.T) {
	e := newTestEnv(t)
	e.mustPost("/db/-/create", `{"table": "t", "pk": "id", "rows": [{"id": 1}]}`, http.StatusCreated)
	h, err := e.w.open("db", false)
	if err != nil {
		t.Fatal(err)
	}
	var mark int64
	if err := h.db.QueryRow(gate.WriteCounterSQL).Scan(&mark); err != nil {
		t.Fatal(err)
	}
	for m, want := range map[int64]bool{mark: true, mark + 1: false} {
		if got, err := committed(h.db, m); err != nil || got != want {
			t.Errorf("committed(%d) with the counter at %d: %v %v", m, mark, got, err)
		}
	}
	empty, err := openHandle(e.dir+"/empty.db", true)
	if err != nil {
		t.Fatal(err)
	}
	defer empty.db.Close()
	if got, err := committed(empty.db, 1); err != nil || got {
		t.Errorf("a database without tablecast's tables: %v %v", got, err)
	}
}

// TestWriter_FailedCommitNothingWritten: a COMMIT that fails and did not
// commit (a commit hook turns it into a rollback) answers an error that
// does not claim success, and nothing is written.
func TestWriter_FailedCommitNothingWritten(t *testing.T) {
	e := newTestEnv(t)
	e.mustPost("/db/-/create", `{"table": "t", "pk": "id", "rows": [{"id": 1}]}`, http.StatusCreated)
	h, err := e.w.open("db", false)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := h.db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Raw(func(dc any) error {
		dc.(*sqlite3.SQLiteConn).RegisterCommitHook(func() int { return 1 })
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	conn.Close() // back to the pool: the writer's one connection
	rec := e.post("/db/t/-/insert", `{"row": {"id": 2}}`)
	if rec.Code < 400 || strings.Contains(rec.Body.String(), "may or may not") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if got := e.queryString("db", "SELECT group_concat(id) FROM t"); got != "1" {
		t.Fatalf("rows: %s", got)
	}
}

// BenchmarkFreeBytes: what one statfs costs (the floor reads it per write
// when near the floor).
func BenchmarkFreeBytes(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		if _, err := tablecast.FreeBytes(dir); err != nil {
			b.Fatal(err)
		}
	}
}

package gate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
)

// ErrNotSelect is the refusal of a statement that is not a read.
var ErrNotSelect = tablecast.Errorf(tablecast.EINVALID, "Statement must be a SELECT")

// Run runs text as public SQL confined by construction (sqlcheck.go) at
// snapshot s, on conn, whose read transaction tx is pinned at s: SQLite
// prepares exactly one statement, EXPLAIN of it must open nothing but the
// tables of s, allowed table-valued functions and allowed functions, and
// that prepared statement alone is handed to read, under the authorizer,
// within limit. The error is what a visitor may see. sh is s's shadow
// (Shadows.Get), which the text passed (Shadow.Check).
func (sh *Shadow) Run(ctx context.Context, conn *sql.Conn, tx *sql.Tx, s *Snapshot, text string, limit time.Duration,
	read func(ctx context.Context, stmt *sqlite3.SQLiteStmt) error) error {
	roots, err := sh.roots(ctx, tx, s)
	if err != nil {
		return err
	}
	auth := &authorizer{s: s, blocked: sh.blocked, modules: sh.modules}
	qctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("public sql: unexpected driver connection %T", dc)
		}
		c.RegisterAuthorizer(auth.check)
		defer c.RegisterAuthorizer(nil)
		stmt, err := prepareOne(c, text)
		if err != nil {
			return hiddenFunction(sqlError(qctx, limit, auth, err), sh.blocked)
		}
		defer stmt.Close()
		if auth.calls == 0 {
			return errors.New("public sql: the authorizer was not called")
		}
		if !sh.verdicts.passed(s.SchemaVersion, text) {
			if err := sh.checkProgram(qctx, limit, c, auth, roots, text); err != nil {
				return err
			}
			sh.verdicts.pass(s.SchemaVersion, text)
		}
		return sqlError(qctx, limit, auth, read(qctx, stmt))
	})
}

// checkProgram checks the program of text (EXPLAIN) on c.
func (sh *Shadow) checkProgram(qctx context.Context, limit time.Duration, c *sqlite3.SQLiteConn, auth *authorizer, roots *rootSet, text string) error {
	ops, err := explain(qctx, c, text)
	if err != nil {
		return sqlError(qctx, limit, auth, err)
	}
	var vtabNames []string
	for _, name := range tableFunctionNames {
		if !sh.blocked[name] {
			vtabNames = append(vtabNames, name)
		}
	}
	pc := programCheck{roots: roots, vtabs: func() (map[string]string, error) {
		// The probes are tablecast's own statements: no authorizer.
		c.RegisterAuthorizer(nil)
		defer c.RegisterAuthorizer(auth.check)
		return probeVtabs(qctx, c, append(vtabNames, roots.vtabs...))
	}}
	return pc.check(ops)
}

// sqlError turns a failed query into the error a visitor sees: the
// authorizer's refusal, the time limit, or SQLite's message.
func sqlError(qctx context.Context, limit time.Duration, auth *authorizer, err error) error {
	var te *tablecast.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return err
	case auth.denied != "":
		return tablecast.Errorf(tablecast.EINVALID, "%s", auth.denied)
	case qctx.Err() != nil || errors.Is(err, sqlite3.ErrInterrupt):
		return tablecast.Errorf(tablecast.EINVALID, "SQL query took too long: the limit is %s", limit)
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return tablecast.Errorf(tablecast.EINVALID, "%s", se.Error())
	}
	return fmt.Errorf("public sql: %w", err)
}

// hiddenFunction turns SQLite's "'json_each' is not a function", which
// it says when a private table takes the name of a table function, into
// the error for a missing name: a table function called by a name that
// is neither a function nor a table is "no such table: x".
func hiddenFunction(err error, blocked map[string]bool) error {
	msg := tablecast.ErrorMessage(err)
	if name, ok := strings.CutSuffix(msg, "' is not a function"); ok && strings.HasPrefix(name, "'") && blocked[strings.ToLower(name[1:])] {
		return tablecast.Errorf(tablecast.EINVALID, "no such table: %s", name[1:])
	}
	return err
}

// authorizer is public SQL's second wall (the first is the program check
// of sqlcheck.go): a query may read the tables and views of its snapshot
// (the public ones; every one but tablecast's and SQLite's for a read
// token's private view), and call the functions of allowedFunctions;
// nothing else.
// SQLite reports a read through a view as reads of the view's tables, so
// a view cannot lend its publicity to a private table. It does not see
// everything (the comparisons of NATURAL and USING joins, hidden
// arguments of table functions): the program check does.
type authorizer struct {
	s       *Snapshot
	blocked map[string]bool // table functions a private table's name hides
	modules map[string]bool // SQLite's virtual table modules, lower case
	calls   int
	denied  string // the refusal a visitor sees, "" when none
}

func (a *authorizer) check(op int, arg1, arg2, db string) int {
	a.calls++
	switch op {
	case sqlite3.SQLITE_SELECT, sqliteRecursive:
		return sqlite3.SQLITE_OK
	case sqlite3.SQLITE_READ:
		if _, ok := a.s.tables[arg1]; ok && db == "main" {
			return sqlite3.SQLITE_OK
		}
		if db == "main" && a.s.ftsShadow(arg1) {
			return sqlite3.SQLITE_OK // a published FTS table reads its own (fts.go)
		}
		// A read of no column (count(*) FROM x) names no database, and x
		// may be a table or a common table expression: SQLite cannot tell
		// here. The shadow has already resolved every name the query uses
		// without the private tables, and the real database resolves them
		// the same way, so x is public or a CTE. Reading no column reads
		// nothing but the row count of x. SQLite's own tables and the
		// built-in virtual tables are not CTEs: refused whatever the query.
		if arg2 == "" && db == "" {
			if name := strings.ToLower(arg1); strings.HasPrefix(name, "sqlite_") || strings.HasPrefix(name, "pragma_") ||
				a.blocked[name] || (a.modules[name] && !tableFunctions[name]) {
				return a.deny("no such table: " + arg1)
			}
			return sqlite3.SQLITE_OK
		}
		if tableFunctions[arg1] && !a.blocked[arg1] {
			return sqlite3.SQLITE_OK
		}
		// The words SQLite uses for a table that does not exist.
		return a.deny("no such table: " + arg1)
	case sqlite3.SQLITE_PRAGMA:
		// FTS3/4 reads the page size, FTS5 the data version (fts.go);
		// setting a pragma stays refused.
		if ftsPragmas[strings.ToLower(arg1)] && arg2 == "" && a.s.hasPublicFTS() {
			return sqlite3.SQLITE_OK
		}
	case sqlite3.SQLITE_FUNCTION:
		name := strings.ToLower(arg2)
		if name == "match" && a.s.hasPublicFTS() {
			return sqlite3.SQLITE_OK // FTS3/4's MATCH (fts.go)
		}
		if !allowedFunctions[name] {
			return a.deny("no such function: " + arg2)
		}
		return sqlite3.SQLITE_OK
	}
	return a.deny(ErrNotSelect.Message)
}

func (a *authorizer) deny(msg string) int {
	if a.denied == "" {
		a.denied = msg
	}
	return sqlite3.SQLITE_DENY
}

// Shadow is an empty in-memory database with the schema of a database's
// public tables and views only. A query is prepared there first: if it
// names a private table, SQLite answers exactly as it does for a missing
// one, because there it is missing.
type Shadow struct {
	fingerprint string
	db          *sql.DB
	rootSet     atomic.Pointer[rootSet] // of the newest schema version seen
	verdicts    verdictCache
	blocked     map[string]bool
	modules     map[string]bool // virtual table modules of this build, lower case
}

// shadowCache keeps a database's shadow while its public schema stays.
// A database has two: one for anonymous SQL (the public set) and one for
// read tokens (the private view). Everything keyed on a set of tables
// lives in a shadow (its verdicts, its root pages), so an anonymous query
// never meets what a token's query built or passed.
type shadowCache struct {
	private bool // the cache of private views: it refuses public snapshots, and the other way round
	mu      sync.Mutex
	cur     *Shadow
}

// Shadows are a database's two shadow caches: anonymous SQL's (the
// public set) and read tokens' (the private view).
type Shadows struct {
	public, private shadowCache
}

// NewShadows returns a database's empty shadow caches.
func NewShadows() *Shadows {
	ss := &Shadows{}
	ss.private.private = true
	return ss
}

// cacheFor is the shadow cache of s's kind: public or private view.
func (ss *Shadows) cacheFor(s *Snapshot) *shadowCache {
	if s.isPrivate {
		return &ss.private
	}
	return &ss.public
}

// Get returns the shadow of s (the public set, or a read token's private
// view), building it if the set changed. tx is the pinned read
// transaction of s.
func (ss *Shadows) Get(ctx context.Context, tx *sql.Tx, s *Snapshot) (*Shadow, error) {
	return ss.cacheFor(s).get(ctx, tx, s)
}

// Close closes both shadows.
func (ss *Shadows) Close() {
	ss.public.close()
	ss.private.close()
}

// get returns the shadow of s's public schema, building it if it changed.
// tx is the pinned read transaction of s.
func (c *shadowCache) get(ctx context.Context, tx *sql.Tx, s *Snapshot) (*Shadow, error) {
	if s.Private() != c.private {
		// A wall, not a path: Shadows.Get never mixes them.
		return nil, fmt.Errorf("public sql: shadow cache (private %t) asked for a snapshot (private %t)", c.private, s.Private())
	}
	blocked, err := blockedFunctions(ctx, tx, s)
	if err != nil {
		return nil, err
	}
	fp := shadowFingerprint(s, blocked)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && c.cur.fingerprint == fp {
		return c.cur, nil
	}
	sh, err := buildShadow(ctx, s)
	if err != nil {
		return nil, err
	}
	sh.fingerprint, sh.blocked = fp, blocked
	if c.cur != nil {
		_ = c.cur.db.Close()
	}
	c.cur = sh
	return sh, nil
}

func (c *shadowCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil {
		_ = c.cur.db.Close()
		c.cur = nil
	}
}

// blockedFunctions finds table functions whose name a private table or
// view takes: SQLite would read that table, so public SQL may not call it.
func blockedFunctions(ctx context.Context, tx *sql.Tx, s *Snapshot) (map[string]bool, error) {
	// Not json_each(?): a private table may hide it, as here.
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE lower(name) IN (`+tableFunctionsSQL+`)`)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	defer rows.Close()
	blocked := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("read schema: %w", err)
		}
		if _, public := s.tables[name]; !public {
			blocked[strings.ToLower(name)] = true
		}
	}
	return blocked, rows.Err()
}

func shadowFingerprint(s *Snapshot, blocked map[string]bool) string {
	var b strings.Builder
	if s.Private() {
		b.WriteString("private\x00")
	}
	for _, name := range s.Names() {
		b.WriteString(name + "\x00" + s.tables[name].DDL + "\x00")
	}
	for _, name := range tableFunctionNames {
		if blocked[name] {
			b.WriteString("!" + name)
		}
	}
	return b.String()
}

// buildShadow creates the public tables (as declared, or as plain tables
// of the same columns when their DDL cannot run here, as for virtual
// tables) and the public views that read nothing but public tables.
func buildShadow(ctx context.Context, s *Snapshot) (*Shadow, error) {
	db, err := sql.Open("sqlite3", "file::memory:")
	if err != nil {
		return nil, fmt.Errorf("open shadow: %w", err)
	}
	// One connection holds the in-memory database: keep it open.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	var views []*Table
	for _, name := range s.Names() {
		t := s.tables[name]
		if t.View {
			views = append(views, t)
			continue
		}
		if _, err := db.ExecContext(ctx, t.DDL); err != nil {
			if made, err := shadowHas(ctx, db, name); err != nil || made {
				if err != nil {
					_ = db.Close()
					return nil, err
				}
				// A virtual table of the set made it (FTS's docs_content
				// for docs, which sorts first): the module's own.
				continue
			}
			if _, err := db.ExecContext(ctx, plainTableDDL(t)); err != nil {
				_ = db.Close()
				return nil, fmt.Errorf("shadow of %s: %w", name, err)
			}
		}
	}
	if err := shadowViews(ctx, db, views); err != nil {
		_ = db.Close()
		return nil, err
	}
	modules, err := moduleList(ctx, db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Shadow{db: db, modules: modules}, nil
}

// shadowHas reports whether the shadow has a table or view named name.
func shadowHas(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE lower(name) = lower(?)`, name).Scan(&n); err != nil {
		return false, fmt.Errorf("shadow of %s: %w", name, err)
	}
	return n > 0, nil
}

// moduleList lists SQLite's virtual table modules (json_each, the pragma
// functions, …), lower case.
func moduleList(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_module_list`)
	if err != nil {
		return nil, fmt.Errorf("shadow module list: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("shadow module list: %w", err)
		}
		out[strings.ToLower(name)] = true
	}
	return out, rows.Err()
}

// shadowViews creates the views, then drops each that does not prepare
// (it reads something not public) until every one left does.
func shadowViews(ctx context.Context, db *sql.DB, views []*Table) error {
	var made []string
	for _, v := range views {
		if _, err := db.ExecContext(ctx, v.DDL); err == nil {
			made = append(made, v.Name)
		}
	}
	for dropped := true; dropped; {
		dropped = false
		for i := 0; i < len(made); i++ {
			stmt, err := db.PrepareContext(ctx, "SELECT * FROM "+tablecast.QuoteIdent(made[i]))
			if err == nil {
				_ = stmt.Close()
				continue
			}
			if _, err := db.ExecContext(ctx, "DROP VIEW "+tablecast.QuoteIdent(made[i])); err != nil {
				return fmt.Errorf("shadow drop view %s: %w", made[i], err)
			}
			made = append(made[:i], made[i+1:]...)
			dropped = true
			i--
		}
	}
	return nil
}

func plainTableDDL(t *Table) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = tablecast.QuoteIdent(c)
	}
	return "CREATE TABLE " + tablecast.QuoteIdent(t.Name) + " (" + strings.Join(cols, ", ") + ")"
}

// roots returns what public SQL may open at s (tx is its pinned read
// transaction), cached per schema version: the public set is the
// shadow's, the root pages move only with the schema.
func (sh *Shadow) roots(ctx context.Context, tx *sql.Tx, s *Snapshot) (*rootSet, error) {
	if rs := sh.rootSet.Load(); rs != nil && rs.schemaVersion == s.SchemaVersion {
		return rs, nil
	}
	rs, err := loadRoots(ctx, tx, s)
	if err != nil {
		return nil, err
	}
	sh.rootSet.Store(rs)
	return rs, nil
}

// Check prepares the statement on the shadow and returns SQLite's error:
// a query naming a private table fails as one naming a missing table.
func (sh *Shadow) Check(ctx context.Context, stmt string) error {
	st, err := sh.db.PrepareContext(ctx, stmt)
	if err != nil {
		var se sqlite3.Error
		if errors.As(err, &se) {
			return tablecast.Errorf(tablecast.EINVALID, "%s", se.Error())
		}
		return fmt.Errorf("shadow prepare: %w", err)
	}
	return st.Close()
}

// sqliteRecursive is SQLITE_RECURSIVE (a recursive common table
// expression), which mattn/go-sqlite3 does not export.
const sqliteRecursive = 33

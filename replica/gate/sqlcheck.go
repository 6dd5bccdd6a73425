package gate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
)

// Public SQL is confined by construction (see the package doc):
//
//  1. SQLite parses the text: exactly one statement is prepared on the
//     pinned connection, and anything after it but spaces, comments and
//     empty statements is refused. That one prepared statement is what
//     runs; the text never goes to a function that runs every statement.
//  2. EXPLAIN of the same text, on the same connection in the same read
//     transaction, lists the program SQLite will run. Every cursor on a
//     b-tree must open the root page of a public table or of one of its
//     indexes (never sqlite_schema, page 1, nor tablecast's own tables);
//     every virtual table cursor must be an allowed table-valued function
//     or a public virtual table; every function is on allowedFunctions;
//     any opcode not known to be a plain read is refused.
//  3. The authorizer stays on as a second wall.

// Errors of the checks. ErrNotPublic says nothing of what was refused: a
// query naming a private table never gets here (the shadow prepare
// answered "no such table" as for a missing one), so it is a backstop.
var (
	errOneStatement = tablecast.Errorf(tablecast.EINVALID, "Exactly one SQL statement is allowed")
	ErrNoSQL        = tablecast.Errorf(tablecast.EINVALID, "No SQL query: pass one in ?sql=")
	ErrNotPublic    = tablecast.Errorf(tablecast.EINVALID, "Query not allowed: public SQL reads public tables and views, with allowed functions, only")
)

// errMattnChanged means mattn/go-sqlite3's statement no longer has the
// fields this file reads; TestMattnStmtInternals fails first.
var errMattnChanged = errors.New("public sql: mattn/go-sqlite3's SQLiteStmt changed: no field s (*sqlite3_stmt) or t (tail)")

// stmtInternals reads what mattn/go-sqlite3 keeps unexported in a
// prepared statement: whether SQLite compiled a statement at all (s is
// nil for text of only spaces and comments) and the text after it (t,
// trimmed of spaces), which mattn never runs from a prepared statement.
func stmtInternals(st *sqlite3.SQLiteStmt) (empty bool, tail string, err error) {
	v := reflect.ValueOf(st).Elem()
	s, t := v.FieldByName("s"), v.FieldByName("t")
	if !s.IsValid() || s.Kind() != reflect.Pointer || !t.IsValid() || t.Kind() != reflect.String {
		return false, "", errMattnChanged
	}
	return s.IsNil(), t.String(), nil
}

// prepareOne prepares text, which must be exactly one statement: what
// follows it may be spaces, comments and empty statements only, as
// SQLite reads them.
func prepareOne(c *sqlite3.SQLiteConn, text string) (*sqlite3.SQLiteStmt, error) {
	ds, err := c.Prepare(text)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(*sqlite3.SQLiteStmt)
	if !ok {
		_ = ds.Close()
		return nil, fmt.Errorf("public sql: unexpected statement %T", ds)
	}
	empty, tail, err := stmtInternals(st)
	if err == nil {
		switch {
		case empty && tail == "":
			err = ErrNoSQL
		case empty, !onlyComments(c, tail):
			err = errOneStatement
		}
	}
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
}

// onlyComments reports whether SQLite finds no statement in tail. Each
// prepare compiles nothing but must consume some text; any statement,
// error or lack of progress is a no.
func onlyComments(c *sqlite3.SQLiteConn, tail string) bool {
	for tail != "" {
		ds, err := c.Prepare(tail)
		if err != nil {
			return false
		}
		st, ok := ds.(*sqlite3.SQLiteStmt)
		if !ok {
			_ = ds.Close()
			return false
		}
		empty, next, err := stmtInternals(st)
		_ = st.Close()
		if err != nil || !empty || len(next) >= len(tail) {
			return false
		}
		tail = next
	}
	return true
}

// vdbeOp is one instruction of an EXPLAIN listing.
type vdbeOp struct {
	opcode     string
	p1, p2, p3 int64
	p4         string // "" for NULL
	p5         int64
}

// explainColumns are the columns of EXPLAIN, checked so that a change of
// SQLite's listing fails closed.
var explainColumns = []string{"addr", "opcode", "p1", "p2", "p3", "p4", "p5", "comment"}

// explain lists the program of text (one statement, already checked by
// prepareOne) as compiled on c now.
func explain(ctx context.Context, c *sqlite3.SQLiteConn, text string) ([]vdbeOp, error) {
	st, err := prepareOne(c, "EXPLAIN "+text)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rows, err := st.QueryContext(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if cols := rows.Columns(); !reflect.DeepEqual(cols, explainColumns) {
		return nil, fmt.Errorf("public sql: EXPLAIN lists %v, want %v", cols, explainColumns)
	}
	var ops []vdbeOp
	dest := make([]driver.Value, len(explainColumns))
	for {
		if err := rows.Next(dest); errors.Is(err, io.EOF) {
			return ops, nil
		} else if err != nil {
			return nil, err
		}
		op := vdbeOp{opcode: fmt.Sprint(dest[1])}
		for i, p := range []*int64{&op.p1, &op.p2, &op.p3, &op.p5} {
			n, ok := dest[2+i+i/3].(int64)
			if !ok {
				return nil, fmt.Errorf("public sql: EXPLAIN %s: p%d is %T", op.opcode, 1+i+i/3, dest[2+i+i/3])
			}
			*p = n
		}
		switch p4 := dest[5].(type) {
		case nil:
		case string:
			op.p4 = p4
		case []byte:
			op.p4 = string(p4)
		default:
			op.p4 = fmt.Sprint(p4)
		}
		ops = append(ops, op)
	}
}

// tableFunctionNames are the table-valued functions public SQL may call:
// pure functions of their arguments. Pragma functions and the rest are
// refused.
var tableFunctionNames = []string{"json_each", "json_tree", "jsonb_each", "jsonb_tree"}

var (
	tableFunctions    = map[string]bool{}
	tableFunctionsSQL string // tableFunctionNames as SQL strings: 'json_each', …
)

func init() {
	quoted := make([]string, len(tableFunctionNames))
	for i, name := range tableFunctionNames {
		tableFunctions[name] = true
		quoted[i] = "'" + name + "'"
	}
	tableFunctionsSQL = strings.Join(quoted, ", ")
}

// allowedFunctions are the scalar, aggregate and window functions public
// SQL may call: SQLite's core, date, math and JSON functions, pure or
// merely random. Not on it, among those this build has: load_extension,
// fts3_tokenizer, rtreecheck, rtreenode, rtreedepth, the FTS auxiliary
// functions (match, matchinfo, offsets, optimize, snippet), sqlite_log,
// sqlite_offset, sqlite_compileoption_get/used, changes, total_changes,
// last_insert_rowid and the auth_* functions. A function not listed here
// is "no such function" whatever its arguments.
var allowedFunctions = map[string]bool{}

func init() {
	for _, name := range strings.Fields(`
		-> ->> abs avg char coalesce concat concat_ws count glob group_concat hex if ifnull iif
		instr length like likelihood likely lower ltrim max min nullif octet_length printf format
		quote random randomblob replace round rtrim sign soundex sqlite_source_id sqlite_version
		string_agg substr substring subtype sum total trim typeof unhex unicode unistr
		unistr_quote unlikely upper zeroblob
		date time datetime julianday unixepoch strftime timediff current_date current_time current_timestamp
		cume_dist dense_rank first_value lag last_value lead nth_value ntile percent_rank rank row_number
		median percentile percentile_cont percentile_disc
		acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log log10
		log2 mod pi pow power radians sin sinh sqrt tan tanh trunc
		json json_array json_array_insert json_array_length json_error_position json_extract
		json_group_array json_group_object json_insert json_object json_patch json_pretty json_quote
		json_remove json_replace json_set json_type json_valid
		jsonb jsonb_array jsonb_array_insert jsonb_extract jsonb_group_array jsonb_group_object
		jsonb_insert jsonb_object jsonb_patch jsonb_remove jsonb_replace jsonb_set`) {
		allowedFunctions[name] = true
	}
}

// plainOps are the opcodes that read or compute without opening a b-tree
// by root page, writing, or reaching outside the statement. Opcodes that
// take a root page, a function, a virtual table or a cursor to write are
// checked one by one in checkProgram; every other opcode is refused.
var plainOps = map[string]bool{}

func init() {
	for _, name := range strings.Fields(`
		Abortable Add AddImm Affinity And BeginSubrtn BitAnd BitNot BitOr Blob Cast Close
		ClrSubtype CollSeq Column ColumnsUsed Compare Concat Copy Count CursorHint DecrJumpZero
		DeferredSeek Divide ElseEq EndCoroutine Eq Filter FilterAdd FinishSeek Found Ge GetSubtype
		Gosub Goto Gt Halt HaltIfNull IFindKey IdxGE IdxGT IdxLE IdxLT IdxRowid If IfEmpty IfNoHope
		IfNot IfNotZero IfNullRow IfPos IfSizeBetween Init InitCoroutine Int64 IntCopy Integer IsNull
		IsTrue IsType Jump Last Le Lt MakeRecord MemMax Move Multiply MustBeInt Ne Next NoConflict
		Noop Not NotExists NotFound NotNull Null NullRow OffsetLimit Once Or Permutation Prev Real
		RealAffinity ReleaseReg Remainder ResultRow Return Rewind RowData RowSetAdd RowSetRead
		RowSetTest Rowid SCopy SeekEnd SeekGE SeekGT SeekHit SeekLE SeekLT SeekRowid SeekScan
		Sequence SequenceTest SetSubtype ShiftLeft ShiftRight SoftNull Sort SorterCompare SorterData
		SorterNext SorterSort String String8 Subtract Trace TypeCheck VColumn VFilter VInitIn VNext
		Variable Yield ZeroOrNull`) {
		plainOps[name] = true
	}
}

// opflagP2IsReg is SQLite's OPFLAG_P2ISREG: P2 of an OpenRead is a
// register holding the root page, not the root page.
const opflagP2IsReg = 0x10

// rootSet is what public SQL may open at one schema version: the root
// pages of the public tables and their indexes, and the public virtual
// tables (which have no root page).
type rootSet struct {
	schemaVersion int64
	pages         map[int64]bool
	vtabs         []string
}

// loadRoots reads the schema in tx (the pinned read transaction of s).
func loadRoots(ctx context.Context, tx *sql.Tx, s *Snapshot) (*rootSet, error) {
	rows, err := tx.QueryContext(ctx, `SELECT type, name, tbl_name, rootpage FROM sqlite_schema`)
	if err != nil {
		return nil, fmt.Errorf("read schema roots: %w", err)
	}
	defer rows.Close()
	rs := &rootSet{schemaVersion: s.SchemaVersion, pages: map[int64]bool{}}
	for rows.Next() {
		var typ, name, tbl string
		var root sql.NullInt64
		if err := rows.Scan(&typ, &name, &tbl, &root); err != nil {
			return nil, fmt.Errorf("read schema roots: %w", err)
		}
		t, public := s.tables[tbl]
		if !public || t.View || tablecast.IsReservedTable(tbl) {
			continue
		}
		switch {
		case typ == "table" && name == tbl && root.Int64 == 0:
			rs.vtabs = append(rs.vtabs, name)
		case (typ == "table" && name == tbl || typ == "index") && root.Int64 > 1:
			rs.pages[root.Int64] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema roots: %w", err)
	}
	return rs, nil
}

// programCheck checks one EXPLAIN listing; vtabs maps the virtual tables
// public SQL may open (EXPLAIN's "vtab:%p") to their names, on demand.
type programCheck struct {
	roots *rootSet
	vtabs func() (map[string]string, error)
}

// check returns ErrNotPublic unless every instruction is allowed.
func (pc programCheck) check(ops []vdbeOp) error {
	ephemeral := map[int64]bool{}
	for _, op := range ops {
		switch op.opcode {
		case "OpenEphemeral", "OpenAutoindex", "SorterOpen", "OpenPseudo", "OpenDup":
			ephemeral[op.p1] = true
		}
	}
	var vtabs map[string]string
	for _, op := range ops {
		switch op.opcode {
		case "OpenRead", "ReopenIdx":
			if op.p3 != 0 || op.p5&opflagP2IsReg != 0 || !pc.roots.pages[op.p2] || ephemeral[op.p1] {
				return ErrNotPublic
			}
		case "OpenEphemeral", "OpenAutoindex", "SorterOpen", "OpenPseudo":
		case "OpenDup":
			if !ephemeral[op.p2] {
				return ErrNotPublic
			}
		case "Insert", "Delete", "IdxInsert", "IdxDelete", "NewRowid", "SorterInsert", "ResetSorter":
			// Windows, DISTINCT, sorts and subqueries fill ephemeral
			// tables; nothing else may be written.
			if !ephemeral[op.p1] {
				return ErrNotPublic
			}
		case "VOpen":
			if vtabs == nil {
				var err error
				if vtabs, err = pc.vtabs(); err != nil {
					return err
				}
			}
			if _, ok := vtabs[op.p4]; !ok || op.p4 == "" {
				return ErrNotPublic
			}
		case "Function", "PureFunc", "AggStep", "AggStep1", "AggInverse", "AggValue", "AggFinal":
			name := op.p4
			if i := strings.LastIndexByte(name, '('); i > 0 {
				name = name[:i]
			}
			if !allowedFunctions[strings.ToLower(name)] {
				return ErrNotPublic
			}
		case "Transaction":
			if op.p1 != 0 || op.p2 != 0 {
				return ErrNotPublic
			}
		default:
			if !plainOps[op.opcode] {
				return ErrNotPublic
			}
		}
	}
	return nil
}

// probeVtabs maps the virtual tables public SQL may open to their names
// as EXPLAIN shows them in VOpen ("vtab:%p", the module's instance on
// this connection): the allowed table-valued functions whose name no
// private table hides, and the public virtual tables. A name that does
// not compile to one VOpen is left out (refused).
func probeVtabs(ctx context.Context, c *sqlite3.SQLiteConn, names []string) (map[string]string, error) {
	out := map[string]string{}
	for _, name := range names {
		ops, err := explain(ctx, c, "SELECT * FROM "+tablecast.QuoteIdent(name))
		if err != nil {
			var se sqlite3.Error
			if errors.As(err, &se) || tablecast.ErrorCode(err) == tablecast.EINVALID {
				continue
			}
			return nil, err
		}
		var opened []string
		for _, op := range ops {
			if op.opcode == "VOpen" {
				opened = append(opened, op.p4)
			}
		}
		if len(opened) == 1 && opened[0] != "" {
			out[opened[0]] = name
		}
	}
	return out, nil
}

// BindArgs binds every parameter of the statement (n of them, SQLite's
// count) to the empty string, as Datasette does for a missing one, then
// each query string value by its name: mattn asks SQLite
// (sqlite3_bind_parameter_index) for ":name", "@name" and "$name", so
// which parameter a value binds to is SQLite's reading, not ours. Keys
// starting with "_" and "sql" are the route's own.
func BindArgs(n int, q map[string][]string) []driver.NamedValue {
	args := make([]driver.NamedValue, 0, n+len(q))
	for i := 1; i <= n; i++ {
		args = append(args, driver.NamedValue{Ordinal: i, Value: ""})
	}
	names := make([]string, 0, len(q))
	for name, vs := range q {
		if name != "sql" && name != "" && !strings.HasPrefix(name, "_") && len(vs) > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		args = append(args, driver.NamedValue{Name: name, Ordinal: len(args) + 1, Value: q[name][0]})
	}
	return args
}

// maxVerdicts bounds a shadow's cache of passed program checks.
const maxVerdicts = 512

// verdictCache remembers the texts whose program passed the check, per
// schema version, for one shadow (one set of tables: the public set, or
// the private view of read tokens, each in its own shadowCache). SQLite compiles the
// same text on the same schema to the same tables, functions and
// instructions (the planner may pick another index of the same table, on
// the allow list all the same), so a pass holds until the schema or the
// public set moves. Only passes are kept; it is emptied when full.
type verdictCache struct {
	mu            sync.Mutex
	schemaVersion int64
	texts         map[string]bool
}

func (v *verdictCache) passed(schemaVersion int64, text string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.schemaVersion == schemaVersion && v.texts[text]
}

func (v *verdictCache) pass(schemaVersion int64, text string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.schemaVersion != schemaVersion || len(v.texts) >= maxVerdicts {
		v.schemaVersion, v.texts = schemaVersion, map[string]bool{}
	}
	v.texts[text] = true
}

// NextStatement prepares the first statement of text on c and returns it
// with the text after it, as SQLite reads them: a script runs one
// statement at a time. st is nil when text holds only spaces and
// comments (then rest is "").
func NextStatement(c *sqlite3.SQLiteConn, text string) (st *sqlite3.SQLiteStmt, rest string, err error) {
	ds, err := c.Prepare(text)
	if err != nil {
		return nil, "", err
	}
	st, ok := ds.(*sqlite3.SQLiteStmt)
	if !ok {
		_ = ds.Close()
		return nil, "", fmt.Errorf("prepare: unexpected statement %T", ds)
	}
	empty, tail, err := stmtInternals(st)
	if err != nil || empty {
		_ = st.Close()
		if err == nil && tail != "" && tail != text {
			return NextStatement(c, tail) // an empty statement (";") before the next one
		}
		return nil, "", err
	}
	return st, tail, nil
}

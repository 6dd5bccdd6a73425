package replica

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// _where=: Datasette's SQL fragments added to a table page's WHERE.
// Datasette allows them only where it allows arbitrary SQL
// (datasette-public's rule), and so does tablecast: where public SQL is
// on (a read token: where its SQL runs), the whole table query with the
// fragments runs as public SQL does, confined by the gate's sandbox
// (gate.Shadow: one statement, its program opening only public tables
// and allowed functions, the authorizer, the time limit), on a connection
// of the public SQL pool. Elsewhere _where is a 400 that says why.

// tableSource runs the queries of a table read, handing fn each row's n
// values until fn returns false.
type tableSource interface {
	eachRow(ctx context.Context, query string, args []any, n int, fn func(vals []any) bool) error
}

// txSource runs a table read's queries in its read transaction.
type txSource struct{ tx *sql.Tx }

func (s txSource) eachRow(ctx context.Context, query string, args []any, n int, fn func(vals []any) bool) error {
	rs, err := s.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		vals := make([]any, n)
		if err := rs.Scan(scanTargets(vals)...); err != nil {
			return err
		}
		if !fn(vals) {
			break
		}
	}
	return rs.Err()
}

var (
	errWhereNeedsSQL = tablecast.Errorf(tablecast.EINVALID, "_where needs public SQL on this database")
	errWhereParams   = tablecast.Errorf(tablecast.EINVALID, "_where cannot use SQL parameters")
)

// MaxWhereClauses bounds the _where fragments of one request.
const MaxWhereClauses = 20

// whereSQL renders _where fragments as one condition: each on lines of
// its own (a "--" comment in one ends with its line), in parentheses.
func whereSQL(where []string) string {
	conds := make([]string, len(where))
	for i, w := range where {
		conds[i] = "(\n" + w + "\n)"
	}
	return strings.Join(conds, " AND ")
}

// tableSource is where a table read's queries run: its read transaction,
// or with _where the public SQL sandbox, on a database that allows it.
func (r *Reader) tableSource(ctx context.Context, rd *readTx, db string, tq *tableQuery) (tableSource, error) {
	if len(tq.where) == 0 {
		return txSource{rd.tx}, nil
	}
	if rd.s.CheckSQL(db) != nil {
		return nil, errWhereNeedsSQL
	}
	if rd.conn == nil || rd.d == nil {
		return nil, errors.New("_where: read outside the public SQL pool")
	}
	sh, err := rd.d.shadows.Get(ctx, rd.tx, rd.s)
	if err != nil {
		return nil, err
	}
	if tq.search != nil {
		// The index stays out of public SQL: its matches go in as JSON.
		if err := tq.search.materialize(ctx, rd.tx); err != nil {
			return nil, err
		}
	}
	return &shadowSource{r: r, rd: rd, sh: sh}, nil
}

// shadowSource runs a table read's queries as public SQL.
type shadowSource struct {
	r  *Reader
	rd *readTx
	sh *gate.Shadow
}

func (s *shadowSource) eachRow(ctx context.Context, query string, args []any, n int, fn func(vals []any) bool) error {
	if err := s.sh.Check(ctx, query); err != nil {
		return err
	}
	return s.sh.Run(ctx, s.rd.conn, s.rd.tx, s.rd.s, query, s.r.SQLTimeLimit, func(qctx context.Context, stmt *sqlite3.SQLiteStmt) error {
		// A parameter in a fragment would take another's value.
		if stmt.NumInput() != len(args) {
			return errWhereParams
		}
		named := make([]driver.NamedValue, len(args))
		for i, a := range args {
			if x, ok := a.(int); ok {
				a = int64(x)
			}
			named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		}
		_, _, err := eachStmtRow(qctx, stmt, named, func(_ []string, row []any) bool { return fn(row) })
		return err
	})
}

package replica

import (
	"context"
	"database/sql"
	"errors"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// Canned queries (issue 18 §4): named SQL stored in the database
// (_canned_queries, gate/canned.go), served at /{db}/{name}.json, .csv and
// as a form page. A name the visitor may run (Snapshot.Query) takes
// precedence over a table of the same name, as in Datasette; a private
// query is a missing one and shadows nothing.
//
// A canned query is the owner's SQL: it runs on the read pool (not under
// public SQL's sandbox, so it may read tables that are not public, like a
// published view), in the read transaction pinned at the snapshot, with
// public SQL's time limit and row limit. Visitors choose only the values
// of its named parameters, always bound, never spliced.

// cannedParams are the '_' parameters of a canned query's answer, by
// format; any other is refused with a 400.
var cannedParams = [...][]string{
	formatHTML: nil,
	formatJSON: {"_shape", "_nl"},
	formatCSV:  {"_dl", "_header"},
	formatBlob: nil,
}

// cannedQuery is the canned query a table route names, when the visitor
// at s may run it.
func cannedQuery(s *snapshot, rt route) (*gate.Query, bool) {
	if rt.kind != routeTable {
		return nil, false
	}
	return s.Query(rt.table)
}

// cannedAnswer runs the canned query q with the route's parameters and
// renders it.
func (r *Reader) cannedAnswer(ctx context.Context, rd *readTx, rt route, q *gate.Query) (*cacheEntry, error) {
	names := make([]string, 0, len(rt.query))
	for name := range rt.query {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasPrefix(name, "_") && !containsString(cannedParams[rt.format], name) {
			return nil, tablecast.Errorf(tablecast.EINVALID, "Invalid parameter for the canned query %s: %s", q.Name, name)
		}
	}
	res, err := r.runCanned(ctx, rd.tx, q, rt)
	if err != nil {
		if rt.format == formatHTML && tablecast.ErrorCode(err) == tablecast.EINVALID {
			return r.htmlCanned(rt, rd.s, q, nil, err)
		}
		return nil, err
	}
	switch rt.format {
	case formatHTML:
		return r.htmlCanned(rt, rd.s, q, res, nil)
	case formatCSV:
		e := &cacheEntry{status: http.StatusOK, contentType: contentCSVText, body: encodeCSV(nonNil(res.columns), res.rows, rt.query.Get("_header") != "off")}
		if rt.query.Get("_dl") != "" {
			e.contentType, e.disposition = contentCSV, csvDisposition(q.Name)
		}
		return e, nil
	}
	return cannedJSON(rt, q, res)
}

// runCanned runs q in tx (the pinned read transaction) with its named
// parameters bound to the route's values ("" when absent, as Datasette
// does), within public SQL's time, row and byte limits.
func (r *Reader) runCanned(ctx context.Context, tx *sql.Tx, q *gate.Query, rt route) (*sqlResult, error) {
	args := make([]any, len(q.Params))
	for i, p := range q.Params {
		args[i] = sql.Named(p, rt.query.Get(p))
	}
	qctx, cancel := context.WithTimeout(ctx, r.SQLTimeLimit)
	defer cancel()
	rows, err := tx.QueryContext(qctx, q.SQL, args...)
	if err != nil {
		return nil, cannedError(qctx, r, err)
	}
	defer rows.Close()
	res := &sqlResult{}
	if res.columns, err = rows.Columns(); err != nil {
		return nil, cannedError(qctx, r, err)
	}
	keep := r.collect(res)
	vals := make([]any, len(res.columns))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, cannedError(qctx, r, err)
		}
		row := make([]any, len(vals))
		copy(row, vals)
		if !keep(res.columns, row) {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, cannedError(qctx, r, err)
	}
	return res, nil
}

// cannedError words a failed canned query as public SQL's are: over the
// time limit, or SQLite's message (about SQL its visitors can read).
func cannedError(qctx context.Context, r *Reader, err error) error {
	var se sqlite3.Error
	switch {
	case qctx.Err() != nil || errors.Is(err, sqlite3.ErrInterrupt):
		return tablecast.Errorf(tablecast.EINVALID, "SQL query took too long: the limit is %s", r.SQLTimeLimit)
	case errors.As(err, &se):
		return tablecast.Errorf(tablecast.EINVALID, "%s", se.Error())
	}
	return err
}

// cannedJSON is Datasette's JSON of a canned query: ok, database,
// query_name, rows, truncated, columns, query {sql, params}; or the
// array shapes.
func cannedJSON(rt route, q *gate.Query, res *sqlResult) (*cacheEntry, error) {
	cols := nonNil(res.columns)
	shape := rt.query.Get("_shape")
	nl := rt.query.Get("_nl") == "on"
	switch {
	case nl:
		return &cacheEntry{status: http.StatusOK, contentType: contentNDJSON, body: encodeNDJSON(cols, res.rows)}, nil
	case shape == shapeArray:
		rows := make([]object, len(res.rows))
		for i, row := range res.rows {
			rows[i] = rowObject(cols, row)
		}
		return jsonEntry(http.StatusOK, rows), nil
	case shape == "", shape == shapeObjects, shape == shapeArrays:
	default:
		return nil, tablecast.Errorf(tablecast.EINVALID, "Invalid _shape for a query: %s (use objects, arrays or array)", shape)
	}
	params := object{keys: []string{}, vals: []any{}}
	for _, p := range q.Params {
		params.keys = append(params.keys, p)
		params.vals = append(params.vals, rt.query.Get(p))
	}
	var rows any
	if shape == shapeArrays {
		list := make([][]any, len(res.rows))
		for i, row := range res.rows {
			list[i] = rowArray(row)
		}
		rows = list
	} else {
		list := make([]object, len(res.rows))
		for i, row := range res.rows {
			list[i] = rowObject(cols, row)
		}
		rows = list
	}
	body := object{
		keys: []string{"ok", "database", "query_name", "rows", "truncated", "columns", "query", "title", "description"},
		vals: []any{true, rt.db, q.Name, rows, res.truncated, cols, object{keys: []string{"sql", "params"}, vals: []any{q.SQL, params}}, q.Title, q.Description},
	}
	return jsonEntry(http.StatusOK, body), nil
}

// cannedPage renders the canned query form page.
var cannedPage = func() *template.Template {
	funcs := template.FuncMap{"join": strings.Join}
	return template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/base.html", "templates/rows.html", "templates/metadata.html", "templates/canned.html"))
}()

// htmlCanned is a canned query's page: its title and description, the
// form of its parameters, its SQL (read only), and its rows or error.
func (r *Reader) htmlCanned(rt route, s *snapshot, q *gate.Query, res *sqlResult, qerr error) (*cacheEntry, error) {
	params := formParams(q.Params, rt.query)
	g, truncated := resultGrid(res)
	status, msg := resultStatus(qerr)
	path := tablePath(rt.db, q.Name)
	qs := encodeQuery(rt.query)
	title := q.Title
	if title == "" {
		title = q.Name
	}
	data := struct {
		page
		Name, Heading, Path, SQL, Error, JSONHref, CSVHref, Limit string
		Description                                               template.HTML
		Params                                                    []formParam
		Grid                                                      *grid
		Truncated, Private                                        bool
	}{page{Title: title + " · " + rt.db, Crumbs: []crumb{{rt.db, dbPath(rt.db)}, {q.Name, path}}},
		q.Name, title, path, q.SQL, msg, path + ".json" + qs, path + ".csv" + qs,
		limitText(r), template.HTML(q.DescriptionHTML), params, g, truncated, !q.Public}
	var buf strings.Builder
	if err := cannedPage.ExecuteTemplate(&buf, "base", data); err != nil {
		return nil, err
	}
	return &cacheEntry{status: status, contentType: contentHTML, body: []byte(buf.String())}, nil
}

func limitText(r *Reader) string {
	return "at most " + strconv.Itoa(r.SQLMaxRows) + " rows, " + r.SQLTimeLimit.String()
}

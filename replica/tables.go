package replica

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// dbTable describes one public table or view of a database.
type dbTable struct {
	Name, Path  string
	Columns     []string
	PrimaryKeys []string
	Count       int64
	View        bool
}

// databaseAnswer answers /{db}: public tables with columns and counts.
func (r *Reader) databaseAnswer(ctx context.Context, tx *sql.Tx, s *snapshot, rt route) (*cacheEntry, error) {
	if !s.DatabaseVisible() {
		return nil, gate.NotFound(rt.db, "")
	}
	if err := rt.paramError(); err != nil {
		return nil, err
	}
	tables := []dbTable{}
	for _, t := range s.Tables() {
		name := t.Name
		var count int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+tablecast.QuoteIdent(name)).Scan(&count); err != nil {
			return nil, err
		}
		tables = append(tables, dbTable{Name: name, Path: tablePath(rt.db, name), Columns: nonNil(t.Columns),
			PrimaryKeys: nonNil(t.PKs), Count: count, View: t.View})
	}
	if rt.format == formatHTML {
		return r.htmlDatabase(rt.db, tables, s)
	}
	list := make([]map[string]any, len(tables))
	for i, t := range tables {
		list[i] = map[string]any{"name": t.Name, "columns": t.Columns, "primary_keys": t.PrimaryKeys,
			"count": t.Count, "view": t.View, "path": t.Path + ".json"}
	}
	return jsonEntry(http.StatusOK, map[string]any{"ok": true, "database": rt.db, "tables": list, "public_sql": s.AllowSQL,
		"queries": queriesJSON(rt.db, s), "metadata": metaObject(s.DatabaseMeta())}), nil
}

// tableAnswer answers /{db}/{table}: one page of rows, filtered and sorted.
func (r *Reader) tableAnswer(ctx context.Context, rd *readTx, rt route) (*cacheEntry, error) {
	s := rd.s
	t, err := s.CheckTable(rt.table)
	if err != nil {
		return nil, err
	}
	tq, err := parseTableQuery(t, rt.query, rt.format)
	if err != nil {
		return nil, err
	}
	fts, err := prepareSearch(ctx, rd.tx, t, tq, rt.query, rt.format == formatHTML)
	if err != nil {
		return nil, err
	}
	ext, err := parsePageExtras(t, rt.query, rt.format)
	if err != nil {
		return nil, err
	}
	tx, err := r.tableSource(ctx, rd, rt.db, tq)
	if err != nil {
		return nil, err
	}
	page, err := queryPage(ctx, tx, t, tq)
	if err != nil {
		return nil, ftsError(err)
	}
	var count int64 = -1
	if tq.count || rt.format == formatHTML {
		if count, err = countRows(ctx, tx, t, tq); err != nil {
			return nil, ftsError(err)
		}
	}
	if err := ext.run(ctx, r, tx, rd, rt, t, tq, page, count); err != nil {
		return nil, err
	}
	var e *cacheEntry
	switch rt.format {
	case formatCSV:
		blobURLs(rt, page)
		e = csvEntry(rt.table, tq, csvLabels(page, ext.expanded))
	case formatHTML:
		e, err = r.htmlTable(rt, s, t, tq, page, count, fts != nil, ext)
	default:
		if tq.metadata {
			tq.meta = tableMetaObject(t, s.TableMeta(t.Name))
		}
		e = tableJSON(rt, t, tq, page, count, ext)
	}
	if e != nil && ext.timedOut() {
		e.retryAt = time.Now().Add(timedOutLifetime).UnixNano()
	}
	return e, err
}

// nextURL is the URL of the page after this one: the same parameters
// with _next set, absolute as Datasette's (baseurl.go).
func nextURL(rt route, token string) string {
	q := url.Values{}
	for k, v := range rt.query {
		q[k] = v
	}
	q.Set("_next", token)
	path, _, _ := strings.Cut(rt.canonical, "?")
	return rt.absolute(path + "?" + q.Encode())
}

// tableJSON renders a page in the shape asked for.
func tableJSON(rt route, t *table, tq *tableQuery, page *pageResult, count int64, ext *pageExtras) *cacheEntry {
	var token, next any
	link := ""
	if page.next != nil {
		tok := encodeNext(page.next)
		token, next = tok, nextURL(rt, tok)
		link = "<" + next.(string) + `>; rel="next"`
	}
	switch tq.shape {
	case shapeArray:
		var e *cacheEntry
		if tq.nl {
			e = &cacheEntry{status: http.StatusOK, contentType: contentNDJSON, body: encodeNDJSON(page.columns, page.rows)}
		} else {
			rows := make([]object, len(page.rows))
			for i, row := range page.rows {
				rows[i] = rowObject(page.columns, row)
			}
			e = jsonEntry(http.StatusOK, rows)
		}
		e.link = link
		return e
	case shapeFirst:
		first := make([]any, len(page.rows))
		for i, row := range page.rows {
			first[i] = jsonValue(row[0])
		}
		e := jsonEntry(http.StatusOK, first)
		e.link = link
		return e
	case shapeObject:
		byKey := object{keys: make([]string, len(page.rows)), vals: make([]any, len(page.rows))}
		for i, row := range page.rows {
			byKey.keys[i] = keySegment(page.keys[i])
			byKey.vals[i] = rowObject(page.columns, row)
		}
		e := jsonEntry(http.StatusOK, byKey)
		e.link = link
		return e
	}
	body := map[string]any{"ok": true, "database": rt.db, "table": rt.table, "next": token, "next_url": next}
	if tq.shape == shapeArrays {
		rows := make([][]any, len(page.rows))
		for i, row := range page.rows {
			rows[i] = rowArray(row)
		}
		body["rows"], body["columns"] = rows, page.columns
	} else {
		rows := make([]object, len(page.rows))
		for i, row := range page.rows {
			rows[i] = rowObject(page.columns, row)
		}
		body["rows"] = rows
	}
	if tq.columns {
		body["columns"] = page.columns
	}
	if tq.count {
		body["count"] = count
	}
	if tq.metadata {
		body["metadata"] = tq.meta
	}
	ext.addJSON(body)
	e := jsonEntry(http.StatusOK, body)
	e.link = link // every shape, as Datasette's json_renderer
	return e
}

// csvEntry renders a page as CSV, as Datasette does: shown as text, or a
// download with _dl.
func csvEntry(name string, tq *tableQuery, page *pageResult) *cacheEntry {
	e := &cacheEntry{status: http.StatusOK, contentType: contentCSVText, body: encodeCSV(page.columns, page.rows, !tq.noHead)}
	if tq.dl {
		e.contentType, e.disposition = contentCSV, csvDisposition(name)
	}
	return e
}

func csvDisposition(name string) string {
	return `attachment; filename="` + strings.NewReplacer(`"`, "_", `\`, "_").Replace(name) + `.csv"`
}

// rowAnswer answers /{db}/{table}/{pk}: the row with that key, in the
// shape asked for, as Datasette's row page.
func (r *Reader) rowAnswer(ctx context.Context, tx *sql.Tx, s *snapshot, rt route) (*cacheEntry, error) {
	t, err := s.CheckTable(rt.table)
	if err != nil {
		return nil, err
	}
	if err := rt.paramError(); err != nil {
		return nil, err
	}
	key, err := rowKey(t, rt.key)
	if err != nil {
		return nil, err
	}
	tq := &tableQuery{shape: shapeObjects}
	if err := tq.parseOutput(t, rt.query, rt.format); err != nil {
		return nil, err
	}
	page, err := queryRow(ctx, tx, t, key)
	if err != nil {
		return nil, err
	}
	switch rt.format {
	case formatHTML:
		return r.htmlRow(rt, t, page)
	case formatCSV:
		return csvEntry(rt.table, tq, page), nil
	case formatBlob:
		return blobAnswer(rt, page)
	}
	return rowJSON(rt, t, tq, page), nil
}

// rowJSON renders a row page in the shape asked for: Datasette's body
// (with the key's columns and values), the row alone in an array, keyed
// by its key, or as an array of values.
func rowJSON(rt route, t *table, tq *tableQuery, page *pageResult) *cacheEntry {
	row := page.rows[0]
	switch tq.shape {
	case shapeArray:
		if tq.nl {
			return &cacheEntry{status: http.StatusOK, contentType: contentNDJSON, body: encodeNDJSON(page.columns, page.rows)}
		}
		return jsonEntry(http.StatusOK, []object{rowObject(page.columns, row)})
	case shapeFirst:
		return jsonEntry(http.StatusOK, []any{jsonValue(row[0])})
	case shapeObject:
		return jsonEntry(http.StatusOK, object{keys: []string{keySegment(page.keys[0])}, vals: []any{rowObject(page.columns, row)}})
	}
	values, _ := tablecast.ParsePK(rt.key) // rowKey parsed it
	body := map[string]any{"ok": true, "database": rt.db, "table": rt.table,
		"primary_keys": keyColumns(t), "primary_key_values": values}
	if tq.shape == shapeArrays {
		body["rows"] = [][]any{rowArray(row)}
	} else {
		body["rows"] = []object{rowObject(page.columns, row)}
	}
	if tq.columns {
		body["columns"] = page.columns
	}
	return jsonEntry(http.StatusOK, body)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

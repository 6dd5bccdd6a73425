package replica

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tablecast/tablecast"
)

// Facets, as Datasette's (datasette/facets.py): _facet=col counts the
// rows of each value of col, _facet_array=col each item of the JSON
// arrays in col, _facet_date=col each date of col; always under the
// page's filters and _where, in the page's read transaction (the same
// snapshot as its rows). Each facet runs under its own time limit
// (Reader.FacetTimeLimit): one that runs out is named in "timed_out"
// instead of failing the page, which is then cached for a few seconds
// only (timedOutLifetime).

// Facet defaults, as Datasette's settings.
const (
	DefaultFacetSize      = 30                     // default_facet_size
	DefaultFacetTimeLimit = 200 * time.Millisecond // facet_time_limit_ms
	// suggestTimeLimit bounds each suggestion query (Datasette's
	// facet_suggest_time_limit_ms), suggestConsider the rows it reads.
	suggestTimeLimit = 50 * time.Millisecond
	suggestConsider  = 1000
	// suggestTotalLimit bounds all of a page's suggestion queries: a wide
	// table's last columns are then not suggested.
	suggestTotalLimit = 250 * time.Millisecond
	// maxFacets bounds the facets of one request.
	maxFacets = 20
)

// timedOutLifetime is how long an answer whose facet ran out of time is
// served from the cache before it is read again: under load every miss
// would otherwise count again (and likely run out of time again), and
// once the load passes, the full answer follows. A variable for tests.
var timedOutLifetime = 5 * time.Second

// Facet types, as Datasette names them, with their parameters.
var facetParams = [...]struct{ param, kind string }{
	{"_facet", "column"}, {"_facet_array", "array"}, {"_facet_date", "date"},
}

// facetSpec is one facet asked for.
type facetSpec struct {
	kind, col string
}

// facetRequest is what a table page asks of facets.
type facetRequest struct {
	specs   []facetSpec
	size    int
	results bool // facet_results in the answer (any facet, or _extra)
	timed   bool // _extra=facets_timed_out
	suggest bool // suggested_facets (_extra, or the HTML page)
}

// parseFacets reads the facet parameters of a table page, checked against
// t's columns. Run it only after the gate let t through.
func parseFacets(t *table, q url.Values, f format) (*facetRequest, error) {
	fr := &facetRequest{size: DefaultFacetSize}
	if f == formatCSV {
		return fr, nil // a CSV has no facets, as Datasette's
	}
	for _, p := range facetParams {
		for _, v := range q[p.param] {
			col, err := facetColumn(p.param, v)
			if err != nil {
				return nil, err
			}
			if !containsString(t.Columns, col) {
				return nil, tablecast.Errorf(tablecast.EINVALID, "Invalid %s: no such column: %s", p.param, col)
			}
			fr.specs = append(fr.specs, facetSpec{kind: p.kind, col: col})
		}
	}
	if len(fr.specs) > maxFacets {
		return nil, tablecast.Errorf(tablecast.EINVALID, "Too many facets: at most %d", maxFacets)
	}
	switch v := q.Get("_facet_size"); v {
	case "":
	case "max":
		fr.size = MaxPageSize
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxPageSize {
			return nil, tablecast.Errorf(tablecast.EINVALID, "_facet_size must be max or an integer from 0 to %d", MaxPageSize)
		}
		fr.size = n
	}
	fr.results = len(fr.specs) > 0 || hasExtra(q, "facet_results")
	fr.timed = hasExtra(q, "facets_timed_out")
	fr.suggest = f == formatHTML || hasExtra(q, "suggested_facets")
	return fr, nil
}

// facetColumn is the column of a facet parameter's value: the column
// itself, or Datasette's JSON form {"column": "col"}.
func facetColumn(param, v string) (string, error) {
	if !strings.HasPrefix(v, "{") {
		return v, nil
	}
	var c struct {
		Column *string `json:"column"`
	}
	if err := json.Unmarshal([]byte(v), &c); err != nil || c.Column == nil {
		return "", tablecast.Errorf(tablecast.EINVALID, `Invalid %s: a value starting with { must be a JSON object {"column": "name"}`, param)
	}
	return *c.Column, nil
}

// hasExtra reports whether _extra names e.
func hasExtra(q url.Values, e string) bool {
	for _, v := range q["_extra"] {
		for _, x := range strings.Split(v, ",") {
			if x == e {
				return true
			}
		}
	}
	return false
}

// facetValue is one value of a facet.
type facetValue struct {
	Value     any
	Label     any
	Count     int64
	ToggleURL string
	Selected  bool
}

// facetResult is one facet's values.
type facetResult struct {
	Name, Kind, ToggleURL string
	Values                []facetValue
	Truncated             bool
}

// facetResults are the facets of a page, and the ones that ran out of time.
type facetResults struct {
	list      []facetResult
	timedOut  []string
	suggested []suggestedFacet
}

// suggestedFacet is a facet the page suggests.
type suggestedFacet struct {
	Name, Kind, ToggleURL string
}

// runFacets computes the facets fr asks for, and the suggestions, in the
// page's read source (the same snapshot as its rows).
func (r *Reader) runFacets(ctx context.Context, src tableSource, rd *readTx, rt route, t *table, tq *tableQuery, fr *facetRequest, count int64) (*facetResults, error) {
	out := &facetResults{}
	limit := r.FacetTimeLimit
	if limit <= 0 {
		limit = DefaultFacetTimeLimit
	}
	for _, spec := range fr.specs {
		res, timedOut, err := runFacet(ctx, src, t, tq, spec, fr.size, limit)
		if err != nil {
			return nil, err
		}
		if timedOut {
			out.timedOut = append(out.timedOut, spec.col)
			continue
		}
		r.finishFacet(ctx, src, rd, rt, t, spec, res)
		out.list = append(out.list, *res)
	}
	if fr.suggest {
		var err error
		if out.suggested, err = suggestFacets(ctx, src, rt, t, tq, fr, count); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runFacet runs one facet's query under its time limit; timedOut when
// the limit (not the request) stopped it.
func runFacet(ctx context.Context, src tableSource, t *table, tq *tableQuery, spec facetSpec, size int, limit time.Duration) (*facetResult, bool, error) {
	query, args := facetSQL(t, tq, spec)
	fctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	res := &facetResult{Name: spec.col, Kind: spec.kind}
	err := src.eachRow(fctx, query, append(args, size+1), 2, func(vals []any) bool {
		if len(res.Values) == size {
			res.Truncated = true
			return false
		}
		n, _ := vals[1].(int64)
		res.Values = append(res.Values, facetValue{Value: vals[0], Count: n})
		return true
	})
	if err != nil && fctx.Err() != nil && ctx.Err() == nil {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, facetError(spec, err)
	}
	return res, false, nil
}

// facetError keeps a client's error (a _where the sandbox refused) as it
// is and wraps any other with the facet it came from.
func facetError(spec facetSpec, err error) error {
	var te *tablecast.Error
	if errors.As(err, &te) {
		return err
	}
	return errors.Join(errors.New("facet "+spec.kind+" "+spec.col), err)
}

// facetSQL is the query of one facet: value and count of each value under
// the page's filters, most frequent first, with a LIMIT to bind.
func facetSQL(t *table, tq *tableQuery, spec facetSpec) (string, []any) {
	from, where, args := filteredRows(t, tq)
	c := columnSQL(spec.col)
	switch spec.kind {
	case "date":
		return "SELECT date(" + c + ") AS value, count(*) AS count FROM " + from +
			" WHERE " + joinConds(where, "date("+c+") IS NOT NULL") +
			" GROUP BY date(" + c + ") ORDER BY count DESC, value LIMIT ?", args
	case "array":
		// Each row counts once for each distinct item of its array (as
		// Datasette's deduped_array_items): an item counts at its first
		// position only. The inner query names the one column it needs, so
		// the filters cannot clash with json_each's columns.
		inner := "SELECT " + c + " AS a FROM " + from
		if where != "" {
			inner += " WHERE " + where
		}
		arr := jsonArraySQL("f.a")
		return "SELECT j.value AS value, count(*) AS count FROM (" + inner + ") AS f, json_each(" + arr + ") AS j" +
			" WHERE NOT EXISTS (SELECT 1 FROM json_each(" + arr + ") AS k WHERE k.key < j.key AND k.value = j.value)" +
			" GROUP BY j.value ORDER BY count DESC, value LIMIT ?", args
	}
	return "SELECT +" + c + " AS value, count(*) AS count FROM " + from +
		" WHERE " + joinConds(where, c+" IS NOT NULL") +
		" GROUP BY " + c + " ORDER BY count DESC, value LIMIT ?", args
}

// finishFacet fills a facet's labels (a foreign key column's, from a
// public referenced table only), selections and toggle URLs.
func (r *Reader) finishFacet(ctx context.Context, src tableSource, rd *readTx, rt route, t *table, spec facetSpec, res *facetResult) {
	var labels map[any]any
	if spec.kind == "column" {
		vals := make([]any, len(res.Values))
		for i, v := range res.Values {
			vals[i] = v.Value
		}
		labels = r.columnLabels(ctx, src, rd, rt.db, t, spec.col, vals)
	}
	param := map[string]string{"column": "_facet", "array": "_facet_array", "date": "_facet_date"}[spec.kind]
	res.ToggleURL = toggledPath(rt, param, spec.col, false) // a path, as Datasette's
	filter := spec.col
	switch {
	case spec.kind == "array":
		filter += "__arraycontains"
	case spec.kind == "date":
		filter += "__date"
	case strings.HasPrefix(spec.col, "_"):
		filter += "__exact"
	}
	for i := range res.Values {
		v := &res.Values[i]
		if spec.kind == "array" {
			v.Value = keyString(v.Value) // Datasette's str(value)
		}
		v.Label = v.Value
		if l, ok := labels[labelKey(v.Value)]; ok {
			v.Label = l
		}
		s := keyString(v.Value)
		v.Selected = containsString(rt.query[filter], s)
		v.ToggleURL = rt.absolute(toggledPath(rt, filter, s, !v.Selected))
	}
}

// toggledPath is the page's path with name=value added (add) or removed,
// and without _next: a toggled page starts at its first row.
func toggledPath(rt route, name, value string, add bool) string {
	q := url.Values{}
	for k, vs := range rt.query {
		if k == "_next" {
			continue
		}
		if k == name && !add {
			var keep []string
			for _, v := range vs {
				if v != value {
					keep = append(keep, v)
				}
			}
			if len(keep) > 0 {
				q[k] = keep
			}
			continue
		}
		q[k] = append([]string(nil), vs...)
	}
	if add {
		q.Add(name, value)
	}
	path, _, _ := strings.Cut(rt.canonical, "?")
	if enc := q.Encode(); enc != "" {
		return path + "?" + enc
	}
	return path
}

// suggestFacets suggests column facets as Datasette does: a column not
// faceted already whose values, among the first rows of the page's
// filtered rows, are more than one, at most the facet size, fewer than
// those rows, and one of them repeats. Each column's query reads at most
// suggestConsider rows under a short time limit; one that runs out is
// not suggested.
func suggestFacets(ctx context.Context, src tableSource, rt route, t *table, tq *tableQuery, fr *facetRequest, count int64) ([]suggestedFacet, error) {
	out := []suggestedFacet{}
	from, where, args := filteredRows(t, tq)
	limited := "SELECT * FROM " + from
	if where != "" {
		limited += " WHERE " + where
	}
	limited += " LIMIT " + strconv.Itoa(suggestConsider)
	rows := count
	if rows < 0 || rows > suggestConsider {
		rows = suggestConsider
		if count < 0 {
			n, err := facetCount(ctx, src, limited, args)
			if err != nil {
				return nil, err
			}
			rows = n
		}
	}
	actx, cancel := context.WithTimeout(ctx, suggestTotalLimit)
	defer cancel()
	for _, c := range t.Columns {
		if actx.Err() != nil {
			break
		}
		if fr.faceted(c) {
			continue
		}
		q := "SELECT count(*), max(n) FROM (SELECT count(*) AS n FROM (" + limited + ") WHERE " + tablecast.QuoteIdent(c) +
			" IS NOT NULL GROUP BY " + tablecast.QuoteIdent(c) + " LIMIT ?)"
		sctx, cancel := context.WithTimeout(actx, suggestTimeLimit)
		var distinct, most int64
		err := src.eachRow(sctx, q, append(append([]any(nil), args...), fr.size+1), 2, func(vals []any) bool {
			distinct, _ = vals[0].(int64)
			most, _ = vals[1].(int64)
			return false
		})
		cancel()
		if err != nil && ctx.Err() == nil {
			continue // out of time (or refused): not suggested
		} else if err != nil {
			return nil, err
		}
		if distinct > 1 && distinct < rows && distinct <= int64(fr.size) && most > 1 {
			out = append(out, suggestedFacet{Name: c, ToggleURL: rt.absolute(toggledPath(rt, "_facet", c, true))})
		}
	}
	return out, nil
}

// facetCount counts the rows of a query.
func facetCount(ctx context.Context, src tableSource, query string, args []any) (int64, error) {
	var n int64
	err := src.eachRow(ctx, "SELECT count(*) FROM ("+query+")", args, 1, func(vals []any) bool {
		n, _ = vals[0].(int64)
		return false
	})
	return n, err
}

// faceted reports whether col has a column facet already.
func (fr *facetRequest) faceted(col string) bool {
	for _, s := range fr.specs {
		if s.kind == "column" && s.col == col {
			return true
		}
	}
	return false
}

// addJSON adds the facets in Datasette 1.0's shape: facet_results (results by
// name, a repeated name as name_2, …, and timed_out), and the extras
// asked for.
func (fr *facetRequest) addJSON(body map[string]any, res *facetResults) {
	if res == nil {
		return
	}
	if fr.results {
		results := object{}
		for _, f := range res.list {
			key := f.Name
			for i := 2; containsString(results.keys, key); i++ {
				key = f.Name + "_" + strconv.Itoa(i)
			}
			values := make([]object, len(f.Values))
			for i, v := range f.Values {
				values[i] = object{keys: []string{"value", "label", "count", "toggle_url", "selected"},
					vals: []any{jsonValue(v.Value), jsonValue(v.Label), v.Count, v.ToggleURL, v.Selected}}
			}
			results.keys = append(results.keys, key)
			results.vals = append(results.vals, object{keys: []string{"name", "type", "hideable", "toggle_url", "results", "truncated"},
				vals: []any{f.Name, f.Kind, true, f.ToggleURL, values, f.Truncated}})
		}
		body["facet_results"] = map[string]any{"results": results, "timed_out": nonNil(res.timedOut)}
	}
	if fr.timed {
		body["facets_timed_out"] = nonNil(res.timedOut)
	}
	if fr.suggest {
		list := make([]object, len(res.suggested))
		for i, s := range res.suggested {
			list[i] = object{keys: []string{"name", "toggle_url"}, vals: []any{s.Name, s.ToggleURL}}
		}
		body["suggested_facets"] = list
	}
}

// pageExtras are what facets and labels add to a table page.
type pageExtras struct {
	facetReq   *facetRequest
	facets     *facetResults
	labels     *labelRequest
	fks        []foreignKey // nil unless read
	expanded   []string     // the columns labeled
	expandable bool         // _extra=expandable_columns
	expandedX  bool         // _extra=expanded_columns
}

// timedOut reports whether a facet ran out of time: such an answer is
// cached for timedOutLifetime only.
func (x *pageExtras) timedOut() bool {
	return x != nil && x.facets != nil && len(x.facets.timedOut) > 0
}

// parsePageExtras reads the facet and label parameters of a table page.
func parsePageExtras(t *table, q url.Values, f format) (*pageExtras, error) {
	fr, err := parseFacets(t, q, f)
	if err != nil {
		return nil, err
	}
	lr, err := parseLabels(t, q, f)
	if err != nil {
		return nil, err
	}
	return &pageExtras{facetReq: fr, labels: lr, expandable: hasExtra(q, "expandable_columns"), expandedX: hasExtra(q, "expanded_columns")}, nil
}

// run labels the page's rows and counts its facets, in the page's read
// source (the same snapshot as its rows).
func (x *pageExtras) run(ctx context.Context, r *Reader, src tableSource, rd *readTx, rt route, t *table, tq *tableQuery, page *pageResult, count int64) error {
	if x.labels.all || len(x.labels.cols) > 0 || x.expandable {
		fks, err := r.foreignKeys(ctx, rd, rt.db, t)
		if err != nil {
			return err
		}
		x.fks = fks
		if x.labels.all || len(x.labels.cols) > 0 {
			if x.expanded, err = labelPage(ctx, src, rt.db, fks, x.labels, page); err != nil {
				return err
			}
		}
	}
	fr := x.facetReq
	if len(fr.specs) > 0 || fr.suggest || fr.results || fr.timed {
		res, err := r.runFacets(ctx, src, rd, rt, t, tq, fr, count)
		if err != nil {
			return err
		}
		x.facets = res
	}
	return nil
}

// addJSON adds the facets and label lists to a table page's JSON body.
func (x *pageExtras) addJSON(body map[string]any) {
	if x == nil {
		return
	}
	x.facetReq.addJSON(body, x.facets)
	if x.expandable {
		body["expandable_columns"] = expandableJSON(x.fks)
	}
	if x.expandedX {
		body["expanded_columns"] = nonNil(x.expanded)
	}
}

// extrasList names the _extra values of a table page or a row, for errors.
func extrasList(page bool) string {
	if page {
		return "count, columns, facet_results, facets_timed_out, suggested_facets, expandable_columns or expanded_columns"
	}
	return "count or columns"
}

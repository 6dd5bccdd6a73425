package primary

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// canned serves the canned query and metadata routes:
//
//	POST /{db}/-/define-query     {"name", "sql", "title", "description"}  (schema scope)
//	POST /{db}/-/drop-query       {"name"}                                 (schema scope)
//	POST /{db}/-/publish-query    {"name"}                                 (publish scope)
//	POST /{db}/-/unpublish-query  {"name"}                                 (publish scope)
//	POST /{db}/-/metadata         {"table", "column", keys…}               (publish scope)
//
// Each is one audited write transaction (gate/canned.go) that moves the
// gate's version, so every replica's next read sees the change.
func (w *Writer) canned(ctx context.Context, req *request) (*result, error) {
	if req.action == tablecast.ActionMetadata {
		return w.setMetadata(ctx, req)
	}
	allowed := []string{"name"}
	if req.action == tablecast.ActionDefineQuery {
		allowed = append(allowed, "sql", "title", "description")
	}
	p, err := decodeBody(req.body, allowed...)
	if err != nil {
		return nil, err
	}
	name, err := p.getString("name")
	if err != nil {
		return nil, err
	}
	if err := validateQueryName(name); err != nil {
		return nil, err
	}
	h, err := w.open(req.db, false)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"database": req.db, "query": name}
	var fn func(tx *sql.Tx) error
	switch req.action {
	case tablecast.ActionDefineQuery:
		q, err := w.inspectQuery(ctx, req.db, name, p)
		if err != nil {
			return nil, err
		}
		body["params"], body["tables"] = nonNilStrings(q.Params), nonNilStrings(q.Tables)
		fn = func(tx *sql.Tx) error { return gate.DefineQuery(ctx, tx, q, req.token) }
	case tablecast.ActionDropQuery:
		fn = func(tx *sql.Tx) error { return gate.DropQuery(ctx, tx, name, req.token) }
	default:
		public := req.action == tablecast.ActionPublishQuery
		body["public"] = public
		txid, err := w.SetQueryPublic(ctx, req.db, name, public, req.token)
		if err != nil {
			return nil, err
		}
		return &result{status: http.StatusOK, txid: txid, body: body}, nil
	}
	txid, err := w.write(ctx, req.db, h, fn)
	if err != nil {
		return nil, err
	}
	w.auditAction(ctx, req.action, req.db, "query:"+name, req.token, txid)
	return &result{status: http.StatusOK, txid: txid, body: body}, nil
}

// validateQueryName: a canned query is named as a table is (it is served
// at /{db}/{name}), never a reserved name.
func validateQueryName(name string) error {
	if name == "" {
		return tablecast.Errorf(tablecast.EINVALID, `"name" is required: the canned query's name`)
	}
	if err := tablecast.ValidateTableName(name); err != nil {
		return tablecast.Errorf(tablecast.EINVALID, "invalid canned query name %q: 1-64 letters, digits and '_', not starting with '_', a digit or 'sqlite_'", name)
	}
	return nil
}

// inspectQuery checks a canned query's SQL on a read-only connection of
// its own (the writer's one connection may be busy) and renders its
// description.
func (w *Writer) inspectQuery(ctx context.Context, db, name string, p params) (gate.CannedQuery, error) {
	q := gate.CannedQuery{Name: name}
	var err error
	if q.SQL, err = p.getString("sql"); err != nil {
		return q, err
	}
	if q.Title, err = p.getString("title"); err != nil {
		return q, err
	}
	if q.Description, err = p.getString("description"); err != nil {
		return q, err
	}
	if q.DescriptionHTML, err = renderMarkdown(q.Description); err != nil {
		return q, err
	}
	u := url.URL{Path: w.path(db)}
	rdb, err := sql.Open("sqlite3", "file:"+u.EscapedPath()+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return q, fmt.Errorf("open %s to check a query: %w", db, err)
	}
	defer rdb.Close()
	conn, err := rdb.Conn(ctx)
	if err != nil {
		return q, fmt.Errorf("open %s to check a query: %w", db, err)
	}
	defer conn.Close()
	q.Params, q.Tables, err = gate.InspectQuery(ctx, conn, q.SQL)
	return q, err
}

// auditAction appends a committed change to the admin audit log; a
// failure is logged.
func (w *Writer) auditAction(ctx context.Context, action, db, target, token string, txid tablecast.TXID) {
	e := AuditEntry{Token: token, Action: action, DB: db, Target: target, TXID: txid.String()}
	ctx = context.WithoutCancel(ctx)
	if _, err := w.Control().write(ctx, func(tx *sql.Tx) error { return appendAudit(ctx, tx, e) }); err != nil {
		w.logger().Error("admin audit", "action", action, "db", db, "target", target, "txid", txid, "err", err)
	}
}

// Metadata keys by level: the database, a table or view, a column.
var (
	metaKeysDB     = []string{"title", "description", "source", "source_url", "license", "license_url", "about", "about_url"}
	metaKeysTable  = append(slices.Clone(metaKeysDB), "label_column")
	metaKeysColumn = []string{"description", "unit"}
)

// setMetadata serves POST /{db}/-/metadata: {"table": …, "column": …}
// choose the object (neither: the database), every other member is a key
// to set (a string) or remove (null or ""). A description is markdown,
// rendered safely into description_html, which is never accepted as is.
func (w *Writer) setMetadata(ctx context.Context, req *request) (*result, error) {
	p, err := decodeBody(req.body, append(slices.Clone(metaKeysTable), "table", "column", "unit", "description_html")...)
	if err != nil {
		return nil, err
	}
	table, err := p.getString("table")
	if err != nil {
		return nil, err
	}
	column, err := p.getString("column")
	if err != nil {
		return nil, err
	}
	allowed := metaKeysDB
	switch {
	case column != "" && table == "":
		return nil, tablecast.Errorf(tablecast.EINVALID, `"column" needs "table"`)
	case column != "":
		allowed = metaKeysColumn
	case table != "":
		allowed = metaKeysTable
	}
	keys := map[string]*string{}
	for k, v := range p {
		switch {
		case k == "table" || k == "column":
			continue
		case k == "description_html":
			return nil, tablecast.Errorf(tablecast.EINVALID, `"description_html" is not accepted: write "description" in markdown, it is rendered safely`)
		case !slices.Contains(allowed, k):
			return nil, tablecast.Errorf(tablecast.EINVALID, "Invalid metadata key %q here: use %s", k, strings.Join(allowed, ", "))
		}
		if string(v) == "null" {
			keys[k] = nil
			continue
		}
		s, err := p.getString(k)
		if err != nil {
			return nil, tablecast.Errorf(tablecast.EINVALID, "%q must be a string or null", k)
		}
		if s == "" {
			keys[k] = nil
			continue
		}
		if strings.HasSuffix(k, "_url") {
			if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, tablecast.Errorf(tablecast.EINVALID, "%q must be an http or https URL", k)
			}
		}
		keys[k] = &s
	}
	if len(keys) == 0 {
		return nil, tablecast.Errorf(tablecast.EINVALID, "No metadata key to set: use %s", strings.Join(allowed, ", "))
	}
	if d, ok := keys["description"]; ok && column == "" {
		var html *string
		if d != nil {
			s, err := renderMarkdown(*d)
			if err != nil {
				return nil, err
			}
			html = &s
		}
		keys["description_html"] = html
	}
	h, err := w.open(req.db, false)
	if err != nil {
		return nil, err
	}
	txid, err := w.write(ctx, req.db, h, func(tx *sql.Tx) error {
		if table != "" {
			if table, err = metadataTarget(ctx, tx, table, column, keys); err != nil {
				return err
			}
		}
		return gate.SetMetadata(ctx, tx, table, column, keys, req.token)
	})
	if err != nil {
		return nil, err
	}
	target := table
	if column != "" {
		target += "." + column
	}
	w.auditAction(ctx, tablecast.ActionMetadata, req.db, "metadata:"+target, req.token, txid)
	set := map[string]any{}
	for k, v := range keys {
		if v == nil {
			set[k] = nil
		} else {
			set[k] = *v
		}
	}
	return &result{status: http.StatusOK, txid: txid, body: map[string]any{"database": req.db, "table": table, "column": column, "metadata": set}}, nil
}

// metadataTarget checks the table (and column, and label column) that
// metadata is set on, and returns the table's name as spelled in the schema.
func metadataTarget(ctx context.Context, tx *sql.Tx, table, column string, keys map[string]*string) (string, error) {
	if tablecast.IsReservedTable(table) {
		return "", tablecast.Errorf(tablecast.ENOTFOUND, "Table not found: %s", table)
	}
	name, _, err := findObject(ctx, tx, table)
	if err != nil {
		return "", err
	}
	cols := map[string]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, name)
	if err != nil {
		return "", sqliteError("read columns", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return "", sqliteError("read columns", err)
		}
		cols[c] = true
	}
	if err := rows.Err(); err != nil {
		return "", sqliteError("read columns", err)
	}
	if column != "" && !cols[column] {
		return "", tablecast.Errorf(tablecast.EINVALID, "Table %s has no column %s", name, column)
	}
	if l := keys["label_column"]; l != nil && !cols[*l] {
		return "", tablecast.Errorf(tablecast.EINVALID, "label_column: table %s has no column %s", name, *l)
	}
	return name, nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

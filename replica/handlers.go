package replica

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tablecast/tablecast"
)

// Page sizes of table reads.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// ServeHTTP answers the public JSON routes:
//
//	GET /.json                     databases with at least one public table
//	GET /{db}.json                 a database's public tables
//	GET /{db}/{table}.json         a page of rows
//	GET /{db}/{table}/{pk}.json    one row
func (r *Reader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		r.fail(w, req, tablecast.Errorf(tablecast.EINVALID, "Method %s not allowed", req.Method), http.StatusMethodNotAllowed)
		return
	}
	segs, ok := splitJSONPath(req.URL.EscapedPath())
	if !ok {
		r.fail(w, req, tablecast.Errorf(tablecast.ENOTFOUND, "Not found"), 0)
		return
	}
	var body any
	var txid tablecast.TXID
	var err error
	switch len(segs) {
	case 0:
		body, err = r.listDatabases(req.Context())
	case 1:
		txid, body, err = r.describeDatabase(req.Context(), segs[0])
	case 2:
		txid, body, err = r.tablePage(req.Context(), segs[0], segs[1], req.URL.Query())
	default:
		txid, body, err = r.row(req.Context(), segs[0], segs[1], segs[2])
	}
	if err != nil {
		r.fail(w, req, err, 0)
		return
	}
	if txid != 0 {
		w.Header().Set(tablecast.HeaderTXID, txid.String())
	}
	tablecast.WriteJSON(w, http.StatusOK, body)
}

func (r *Reader) fail(w http.ResponseWriter, req *http.Request, err error, status int) {
	if status == 0 {
		tablecast.WriteError(w, req, r.Logger, err)
		return
	}
	tablecast.WriteJSON(w, status, map[string]any{"ok": false, "error": tablecast.ErrorMessage(err), "status": status})
}

// splitJSONPath turns "/db/table/pk.json" into its unescaped segments; the
// root "/.json" gives none. The pk segment stays escaped: rowKey splits it.
func splitJSONPath(escaped string) ([]string, bool) {
	if escaped == "/.json" {
		return nil, true
	}
	rest, ok := strings.CutSuffix(strings.TrimPrefix(escaped, "/"), ".json")
	if !ok || rest == "" {
		return nil, false
	}
	segs := strings.Split(rest, "/")
	if len(segs) > 3 {
		return nil, false
	}
	for i, s := range segs {
		if s == "" {
			return nil, false
		}
		if i < 2 {
			u, err := url.PathUnescape(s)
			if err != nil {
				return nil, false
			}
			segs[i] = u
		}
	}
	return segs, true
}

// listDatabases answers /.json: the databases with a public table.
func (r *Reader) listDatabases(ctx context.Context) (any, error) {
	names := r.Positions.Databases()
	sortStrings(names)
	dbs := []map[string]any{}
	for _, name := range names {
		var n int
		_, err := r.read(ctx, name, func(_ *sql.Tx, s *snapshot) error {
			n = len(s.tables)
			return nil
		})
		if tablecast.ErrorCode(err) == tablecast.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, err
		}
		if n > 0 {
			dbs = append(dbs, map[string]any{"name": name, "path": "/" + name + ".json", "tables_count": n})
		}
	}
	return map[string]any{"ok": true, "databases": dbs}, nil
}

// describeDatabase answers /{db}.json: public tables with columns and counts.
func (r *Reader) describeDatabase(ctx context.Context, db string) (tablecast.TXID, any, error) {
	tables := []map[string]any{}
	txid, err := r.read(ctx, db, func(tx *sql.Tx, s *snapshot) error {
		if len(s.tables) == 0 {
			return errDBNotFound(db)
		}
		for _, name := range s.names() {
			t := s.tables[name]
			var count int64
			err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+tablecast.QuoteIdent(name)).Scan(&count)
			if err != nil {
				return err
			}
			tables = append(tables, map[string]any{
				"name": name, "columns": t.Columns, "primary_keys": nonNil(t.PKs),
				"count": count, "view": t.View, "path": "/" + db + "/" + name + ".json",
			})
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return txid, map[string]any{"ok": true, "database": db, "tables": tables, "txid": txid.String()}, nil
}

// pageParams are the table page's query parameters.
type pageParams struct {
	size int
	next []any // keyset position after which the page starts, or nil
}

func parsePageParams(q url.Values) (pageParams, error) {
	p := pageParams{size: DefaultPageSize}
	if v := q.Get("_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return p, tablecast.Errorf(tablecast.EINVALID, "_size must be an integer from 1 to %d", MaxPageSize)
		}
		p.size = n
	}
	if v := q.Get("_next"); v != "" {
		next, err := decodeNext(v)
		if err != nil {
			return p, err
		}
		p.next = next
	}
	return p, nil
}

// tablePage answers /{db}/{table}.json with one keyset page of rows.
func (r *Reader) tablePage(ctx context.Context, db, name string, q url.Values) (tablecast.TXID, any, error) {
	p, err := parsePageParams(q)
	if err != nil {
		return 0, nil, err
	}
	var rows []map[string]any
	var next []any
	txid, err := r.read(ctx, db, func(tx *sql.Tx, s *snapshot) error {
		t, err := gateTable(s, db, name)
		if err != nil {
			return err
		}
		rows, next, err = queryPage(ctx, tx, t, p)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	body := map[string]any{"ok": true, "database": db, "table": name, "rows": nonNilRows(rows), "next": nil, "next_url": nil, "txid": txid.String()}
	if next != nil {
		token := encodeNext(next)
		body["next"] = token
		body["next_url"] = "/" + db + "/" + name + ".json?_next=" + url.QueryEscape(token) + "&_size=" + strconv.Itoa(p.size)
	}
	return txid, body, nil
}

// row answers /{db}/{table}/{pk}.json.
func (r *Reader) row(ctx context.Context, db, name, escapedKey string) (tablecast.TXID, any, error) {
	var found map[string]any
	txid, err := r.read(ctx, db, func(tx *sql.Tx, s *snapshot) error {
		t, err := gateTable(s, db, name)
		if err != nil {
			return err
		}
		key, err := rowKey(t, escapedKey)
		if err != nil {
			return err
		}
		found, err = queryRow(ctx, tx, t, key)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return txid, map[string]any{"ok": true, "database": db, "table": name, "rows": []map[string]any{found}, "txid": txid.String()}, nil
}

// gateTable is the gate for one table read: a database with no public table
// is answered as missing, a private table as missing.
func gateTable(s *snapshot, db, name string) (*table, error) {
	if len(s.tables) == 0 {
		return nil, errDBNotFound(db)
	}
	t, ok := s.allowed(name)
	if !ok {
		return nil, errTableNotFound(name)
	}
	return t, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilRows(rows []map[string]any) []map[string]any {
	if rows == nil {
		return []map[string]any{}
	}
	return rows
}

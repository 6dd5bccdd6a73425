package replica

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/replica/gate"
)

// planSource records a page's query and answers with its query plan.
type planSource struct {
	db   *sql.DB
	plan []string
}

func (p *planSource) eachRow(ctx context.Context, query string, args []any, _ int, _ func([]any) bool) error {
	rows, err := p.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return err
		}
		p.plan = append(p.plan, detail)
	}
	return rows.Err()
}

// A page's ORDER BY names the table's columns, so that SQLite can take the
// order from the rowid or an index instead of sorting every matching row
// (the selected "+col AS col" is an expression that no index orders).
func TestQueryPage_OrderFromIndex(t *testing.T) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "o.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price FLOAT); CREATE INDEX items_price ON items (price)`); err != nil {
		t.Fatal(err)
	}
	tbl := &gate.Table{Name: "items", Columns: []string{"id", "name", "price"}, PKs: []string{"id"}, Rowid: true, RowidAlias: true}
	for _, tc := range []struct {
		name string
		tq   tableQuery
		want string // the plan must not sort all rows
	}{
		{"KeyOrder", tableQuery{cols: tbl.Columns, size: 100}, "SCAN items"},
		{"SortDescByIndexedColumn", tableQuery{cols: tbl.Columns, size: 100, sort: "price", desc: true,
			filters: []filter{{col: "price", op: "gt", args: []any{int64(10)}}}}, "SEARCH items USING INDEX items_price (price>?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &planSource{db: db}
			if _, err := queryPage(context.Background(), src, tbl, &tc.tq); err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(src.plan, "; ")
			if !strings.Contains(plan, tc.want) || strings.Contains(plan, "USE TEMP B-TREE FOR ORDER BY") {
				t.Errorf("plan %q, want %q without a sort of every row", plan, tc.want)
			}
		})
	}
}

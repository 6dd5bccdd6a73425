package gate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"reflect"
	"testing"

	"github.com/mattn/go-sqlite3"
)

// TestMattnStmtInternals fails when mattn/go-sqlite3 changes what public
// SQL relies on: the unexported tail t and statement s of SQLiteStmt, a
// prepared statement that runs its first statement only, and EXPLAIN's
// columns.
func TestMattnStmtInternals(t *testing.T) {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c := dc.(*sqlite3.SQLiteConn)
		for _, tc := range []struct {
			text  string
			empty bool
			tail  string
		}{
			{"select 1; select 2", false, "select 2"},
			{"select $a(') ; select 2 --'", false, "select 2 --'"},
			{"select 1; -- c", false, "-- c"},
			{"select 1", false, ""},
			{"-- c", true, ""},
			{"; select 1", false, ""},
			{"select 1;;", false, ";"},
			{";", true, ""},
		} {
			ds, err := c.Prepare(tc.text)
			if err != nil {
				t.Fatalf("%q: %v", tc.text, err)
			}
			empty, tail, err := stmtInternals(ds.(*sqlite3.SQLiteStmt))
			if err != nil || empty != tc.empty || tail != tc.tail {
				t.Fatalf("%q: empty %v tail %q (%v), want %v %q", tc.text, empty, tail, err, tc.empty, tc.tail)
			}
			_ = ds.Close()
		}
		// The prepared statement runs its own statement, never the tail.
		if _, err := c.Exec("create table t (x)", nil); err != nil {
			t.Fatal(err)
		}
		st, err := c.Prepare("select count(*) from t; insert into t values (1)")
		if err != nil {
			t.Fatal(err)
		}
		rows, err := st.(*sqlite3.SQLiteStmt).QueryContext(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next(make([]driver.Value, 1)) == nil {
		}
		_ = rows.Close()
		_ = st.Close()
		ds, err := c.Prepare("select count(*) from t")
		if err != nil {
			t.Fatal(err)
		}
		rows, err = ds.(*sqlite3.SQLiteStmt).QueryContext(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]driver.Value, 1)
		if err := rows.Next(v); err != nil || v[0] != int64(0) {
			t.Fatalf("the tail ran: count %v (%v)", v[0], err)
		}
		_ = rows.Close()
		_ = ds.Close()
		// EXPLAIN lists what checkProgram reads.
		ops, err := explain(context.Background(), c, "select max(x) from t")
		if err != nil {
			t.Fatal(err)
		}
		var saw []string
		for _, op := range ops {
			if op.opcode == "OpenRead" || op.opcode == "AggStep" || op.opcode == "Transaction" {
				saw = append(saw, op.opcode+" "+op.p4)
			}
		}
		if !reflect.DeepEqual(saw, []string{"OpenRead 1", "AggStep max(1)", "Transaction 0"}) {
			t.Fatalf("EXPLAIN: %v", saw)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestProgramCheck_Backstop runs the program check alone, without the
// shadow prepare and the authorizer in front of it: on its own it lets
// public reads through and refuses every read of a private table, of
// sqlite_schema, of tablecast's tables, private virtual tables and
// functions off the list.
func TestProgramCheck_Backstop(t *testing.T) {
	db := mustOpen(t, confSQL...)
	s := &Snapshot{SchemaVersion: 1, tables: map[string]*Table{
		"cities": {Name: "cities"}, "big": {Name: "big", View: true}, "pubjson": {Name: "pubjson"},
		"_public_audit": {Name: "_public_audit"}, // reserved: never readable, even if listed
	}}
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	roots, err := loadRoots(ctx, tx, s)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	check := func(q string) error {
		var cerr error
		err := conn.Raw(func(dc any) error {
			c := dc.(*sqlite3.SQLiteConn)
			ops, err := explain(ctx, c, q)
			if err != nil {
				return err
			}
			cerr = programCheck{roots: roots, vtabs: func() (map[string]string, error) {
				return probeVtabs(ctx, c, append([]string{"json_each", "json_tree"}, roots.vtabs...))
			}}.check(ops)
			return nil
		})
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		return cerr
	}
	for _, q := range []string{
		"select * from cities", "select * from big", "select name from cities where name > 'L' order by pop",
		"select * from pubjson join json_tree using (json)", "select count(*) from json_each('[1,2]')",
		"select sum(id) over (order by id), row_number() over () from cities", "select distinct pop from cities",
		"with recursive c(i) as (select 1 union all select i+1 from c where i < 3) select * from c",
		"select * from cities where id in (select id from cities) group by pop having count(*) > 0",
		"select name->>'$' from cities union select 1", "select pop from cities indexed by cities_pop where pop > 1",
	} {
		if err := check(q); err != nil {
			t.Fatalf("%q refused: %v", q, err)
		}
	}
	for _, q := range []string{
		"select * from secrets", "select count(*) from secrets", "select * from cities natural join secrets",
		"select * from leak", "select name from sqlite_master", "select count(*) from sqlite_schema",
		"with x(name) as (values ('secrets')) select name from x natural join sqlite_master",
		"select count(*) from _public_audit", "select count(*) from _public_tables", "select * from privrt",
		"select key from privjson join json_tree using (json)", "select * from secrets indexed by secrets_secret",
		"select rtreecheck('privrt')", "select load_extension('x')",
		"select changes()", "select * from pragma_table_list", "select * from cities where id = (select n from privnum)",
	} {
		if err := check(q); err != ErrNotPublic {
			t.Fatalf("%q: %v, want ErrNotPublic", q, err)
		}
	}
	// Instructions built by hand: what EXPLAIN could show one day.
	pc := programCheck{roots: roots, vtabs: func() (map[string]string, error) { return map[string]string{}, nil }}
	var page int64
	for p := range roots.pages {
		page = p
	}
	for _, tc := range []struct {
		name string
		ops  []vdbeOp
		ok   bool
	}{
		{"public page", []vdbeOp{{opcode: "OpenRead", p2: page}}, true},
		{"page 1", []vdbeOp{{opcode: "OpenRead", p2: 1}}, false},
		{"temp database", []vdbeOp{{opcode: "OpenRead", p2: page, p3: 1}}, false},
		{"root in a register", []vdbeOp{{opcode: "OpenRead", p2: page, p5: opflagP2IsReg}}, false},
		{"write", []vdbeOp{{opcode: "OpenWrite", p2: page}}, false},
		{"insert into a b-tree", []vdbeOp{{opcode: "OpenRead", p1: 3, p2: page}, {opcode: "Insert", p1: 3}}, false},
		{"insert into an ephemeral", []vdbeOp{{opcode: "OpenEphemeral", p1: 3}, {opcode: "Insert", p1: 3}}, true},
		{"write transaction", []vdbeOp{{opcode: "Transaction", p2: 1}}, false},
		{"unknown opcode", []vdbeOp{{opcode: "SomethingNew"}}, false},
		{"parse schema", []vdbeOp{{opcode: "ParseSchema"}}, false},
		{"function off the list", []vdbeOp{{opcode: "PureFunc", p4: "fts3_tokenizer(1)"}}, false},
		{"unknown vtab", []vdbeOp{{opcode: "VOpen", p4: "vtab:1234"}}, false},
		{"dup of a b-tree", []vdbeOp{{opcode: "OpenRead", p1: 2, p2: page}, {opcode: "OpenDup", p1: 3, p2: 2}}, false},
	} {
		if err := pc.check(tc.ops); (err == nil) != tc.ok {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
}

// The two shadow caches of a database never serve each other's kind of
// snapshot, and a token's query leaves nothing in the public one.
func TestShadows_Apart(t *testing.T) {
	r := newReader(t, mustOpen(t, append(demoSQL, `CREATE TABLE json_tree (v TEXT)`, `INSERT INTO json_tree VALUES ('shadowed')`)...))
	text := "select secret from secrets"
	if _, err := r.query(true, text); err != nil {
		t.Fatalf("token query: %v", err)
	}
	ss := r.shadows
	if ss.private.cur == nil {
		t.Fatal("no private shadow after a token's query")
	}
	if ss.public.cur != nil {
		t.Fatal("a token's query built the public shadow")
	}
	if !ss.private.cur.verdicts.passed(r.last.SchemaVersion, text) {
		t.Fatal("the private verdict was not kept (the test below would prove nothing)")
	}
	if _, err := r.query(false, "select name from cities"); err != nil {
		t.Fatalf("anonymous query: %v", err)
	}
	if ss.public.cur == nil || ss.public.cur == ss.private.cur || ss.public.cur.verdicts.passed(r.last.SchemaVersion, text) {
		t.Fatal("the public shadow shares the private one's verdicts")
	}
	if _, ok := ss.public.cur.rootSet.Load().pages[0]; ok || len(ss.public.cur.rootSet.Load().pages) >= len(ss.private.cur.rootSet.Load().pages) {
		t.Fatalf("public root pages %v, private %v: the private set is larger", ss.public.cur.rootSet.Load().pages, ss.private.cur.rootSet.Load().pages)
	}
	for _, c := range []*shadowCache{&ss.public, &ss.private} {
		if _, err := c.get(context.Background(), nil, &Snapshot{isPrivate: !c.private}); err == nil {
			t.Errorf("shadow cache (private %t) served the other kind of snapshot", c.private)
		}
	}
}

package gate

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/tablecast/tablecast"
)

// ruleBase is the schema every setup of TestGate_Rule starts from: a
// public candidate, private rows (every secret value holds "hunter"),
// views over both, a mixed-case name and an underscore table.
var ruleBase = []string{PublicTablesDDL,
	`CREATE TABLE pub (id INTEGER PRIMARY KEY, v TEXT)`, `INSERT INTO pub VALUES (1, 'ok-pub')`,
	`CREATE TABLE priv (id INTEGER PRIMARY KEY, secret TEXT)`, `INSERT INTO priv VALUES (1, 'hunter-priv')`,
	`CREATE TABLE Mixed (id INTEGER PRIMARY KEY, v TEXT)`, `INSERT INTO Mixed VALUES (1, 'hunter-mixed')`,
	`CREATE TABLE _secret (v TEXT)`, `INSERT INTO _secret VALUES ('hunter-underscore')`,
	`CREATE VIEW pubview AS SELECT v FROM pub`,
	`CREATE VIEW leakview AS SELECT secret FROM priv`,
	`CREATE VIEW unlistedview AS SELECT v FROM pub`,
}

// ruleSetups are the gates TestGate_Rule asks, on top of ruleBase.
var ruleSetups = map[string][]string{
	// Listed one by one, public SQL on; listings of a name in another
	// case, of an underscore table, of the gate itself and of SQLite's.
	"listed": append([]string{publish("pub"), publish("pubview"), publish("leakview"), publish("mixed"),
		publish("_secret"), publish("_public_tables"), publish("sqlite_master")}, publicDB(false, true)...),
	// The same listings, public SQL off.
	"listed-nosql": {publish("pub"), publish("leakview")},
	// Every table and view public, public SQL on, nothing listed.
	"all": publicDB(true, true),
	// A gate, nothing listed, no switch.
	"none": {},
	// Public SQL on, no public table.
	"sqlonly": publicDB(false, true),
	// Canned queries: one public (over a private table), one private of
	// a public table's name; metadata of public and private tables.
	"queries": {publish("pub"), CannedQueriesDDL, MetadataDDL,
		cannedRow("pubq", "SELECT secret FROM priv", true), cannedRow("pub", "SELECT 'shadow'", false),
		cannedRow("privq", "SELECT 1", false), cannedRow("_resq", "SELECT 1", true),
		`INSERT INTO _metadata VALUES ('pub', '', 'title', 'Public'), ('priv', '', 'title', 'hunter-meta')`},
	// No public table: a public query makes the database visible, a
	// private one does not.
	"query-public-only":  {CannedQueriesDDL, cannedRow("pubq", "SELECT 1", true)},
	"query-private-only": {CannedQueriesDDL, cannedRow("privq", "SELECT 1", false)},
	// Switches off after being on: the listings alone count.
	"switched-off": append(publicDB(true, true), publish("pub"), `UPDATE _public_database SET all_tables = 0, allow_sql = 0`),
}

// Kinds of question TestGate_Rule asks.
const (
	askDB         = "db"          // may a visitor know the database exists
	askTable      = "table"       // may a visitor read this table or view
	askTokenTable = "token table" // may a read token read it
	askSQL        = "sql"         // may an anonymous query run, and what it reads
	askQuery      = "query"       // may a visitor run this canned query
	askTokenQuery = "token query" // may a read token run it
	askMeta       = "meta"        // may a visitor read this table's metadata
)

// Answers.
const (
	visible   = "visible"
	missing   = "missing"   // indistinguishable from a missing thing
	forbidden = "forbidden" // the database is visible, public SQL is off
)

// TestGate_Rule pins the whole rule: for each gate (setup) and each thing
// asked, whether it is visible or answers exactly as a missing one.
func TestGate_Rule(t *testing.T) {
	for _, tc := range []struct {
		setup, ask, thing, want string
		err                     string // for SQL answered as missing: the error a visitor sees
	}{
		{"listed", askDB, "", visible, ""},
		{"listed", askTable, "pub", visible, ""},
		{"listed", askTable, "pubview", visible, ""},
		{"listed", askTable, "leakview", visible, ""}, // publishing a view publishes its rows
		{"listed", askTable, "PUB", missing, ""},      // names are exact, as listed
		{"listed", askTable, "priv", missing, ""},
		{"listed", askTable, "unlistedview", missing, ""}, // a view over public rows, not listed
		{"listed", askTable, "Mixed", missing, ""},        // listed as "mixed"
		{"listed", askTable, "mixed", missing, ""},        // listed, but no such table
		{"listed", askTable, "_secret", missing, ""},      // listed, but reserved
		{"listed", askTable, "_public_tables", missing, ""},
		{"listed", askTable, "_public_database", missing, ""},
		{"listed", askTable, "sqlite_master", missing, ""},
		{"listed", askTable, "nosuch", missing, ""},
		{"listed", askTokenTable, "priv", visible, ""},
		{"listed", askTokenTable, "Mixed", visible, ""},
		{"listed", askTokenTable, "_secret", missing, ""},
		{"listed", askTokenTable, "_public_tables", missing, ""},
		{"listed", askTokenTable, "sqlite_master", missing, ""},
		{"listed", askSQL, "select v from pub", visible, ""},
		{"listed", askSQL, "select v from PUB", visible, ""}, // SQLite's names ignore case: the same public table
		{"listed", askSQL, "select v from pubview", visible, ""},
		{"listed", askSQL, "select * from priv", missing, "no such table: priv"},
		{"listed", askSQL, "select * from nosuch", missing, "no such table: nosuch"},
		{"listed", askSQL, "select * from leakview", missing, "no such table: leakview"}, // a view lends no publicity to SQL
		{"listed", askSQL, "select * from unlistedview", missing, "no such table: unlistedview"},
		{"listed", askSQL, "select * from Mixed", missing, "no such table: Mixed"},
		{"listed", askSQL, "select * from pub join priv using (id)", missing, "no such table: priv"},
		{"listed", askSQL, "select * from pub natural join priv", missing, "no such table: priv"},
		{"listed", askSQL, "select * from pub where id in (select id from priv)", missing, "no such table: priv"},
		{"listed", askSQL, "select (select secret from priv) from pub", missing, "no such table: priv"},
		{"listed", askSQL, "with x as (select * from priv) select * from x", missing, "no such table: priv"},
		{"listed", askSQL, "with recursive x(n) as (select 1 union all select n + 1 from x join priv where n < 2) select * from x", missing, "no such table: priv"},
		{"listed", askSQL, "select count(*) from priv", missing, "no such table: priv"},
		{"listed", askSQL, "select * from _secret", missing, "no such table: _secret"},
		{"listed", askSQL, "select * from _public_tables", missing, "no such table: _public_tables"},
		{"listed", askSQL, "select name from sqlite_master", missing, "no such table: sqlite_master"},
		{"listed", askSQL, "select name from sqlite_schema", missing, "no such table: sqlite_master"},
		{"listed", askSQL, "select * from pragma_table_list", missing, "no such table: pragma_table_list"},

		{"listed-nosql", askDB, "", visible, ""},
		{"listed-nosql", askTable, "pub", visible, ""},
		{"listed-nosql", askSQL, "select 1", forbidden, ""},

		{"all", askDB, "", visible, ""},
		{"all", askTable, "priv", visible, ""},
		{"all", askTable, "Mixed", visible, ""},
		{"all", askTable, "unlistedview", visible, ""},
		{"all", askTable, "mixed", missing, ""}, // names are exact
		{"all", askTable, "_secret", missing, ""},
		{"all", askTable, "_public_tables", missing, ""},
		{"all", askTable, "_public_database", missing, ""},
		{"all", askTable, "sqlite_master", missing, ""},
		{"all", askSQL, "select secret from priv", visible, ""},
		{"all", askSQL, "select * from leakview", visible, ""},
		{"all", askSQL, "select * from _secret", missing, "no such table: _secret"},
		{"all", askSQL, "select * from _public_database", missing, "no such table: _public_database"},
		{"all", askSQL, "select name from sqlite_master", missing, "no such table: sqlite_master"},

		{"none", askDB, "", missing, ""},
		{"none", askTable, "pub", missing, ""},
		{"none", askTokenTable, "priv", visible, ""},
		{"none", askSQL, "select 1", missing, "Database not found: db"},

		{"sqlonly", askDB, "", visible, ""},
		{"sqlonly", askTable, "pub", missing, ""},
		{"sqlonly", askSQL, "select 1", visible, ""},
		{"sqlonly", askSQL, "select v from pub", missing, "no such table: pub"},

		{"switched-off", askDB, "", visible, ""},
		{"switched-off", askTable, "pub", visible, ""},
		{"switched-off", askTable, "priv", missing, ""},
		{"switched-off", askSQL, "select 1", forbidden, ""},

		{"queries", askQuery, "pubq", visible, ""}, // a public query over a private table
		{"queries", askQuery, "privq", missing, ""},
		{"queries", askQuery, "pub", missing, ""}, // private: does not shadow the public table
		{"queries", askTable, "pub", visible, ""},
		{"queries", askQuery, "_resq", missing, ""}, // reserved name, written outside tablecast
		{"queries", askQuery, "nosuch", missing, ""},
		{"queries", askTokenQuery, "privq", visible, ""},
		{"queries", askTokenQuery, "_resq", missing, ""},
		{"queries", askMeta, "pub", visible, ""},
		{"queries", askMeta, "priv", missing, ""},
		{"queries", askTable, "_canned_queries", missing, ""},
		{"queries", askTable, "_metadata", missing, ""},
		{"query-public-only", askDB, "", visible, ""},
		{"query-public-only", askQuery, "pubq", visible, ""},
		{"query-private-only", askDB, "", missing, ""},
		{"query-private-only", askQuery, "privq", missing, ""},
		{"all", askSQL, "select * from _canned_queries", missing, "no such table: _canned_queries"},

		{"nogate", askDB, "", missing, ""},
		{"nogate", askTable, "pub", missing, ""},
		{"nogate", askSQL, "select 1", missing, "Database not found: db"},
	} {
		t.Run(tc.setup+"/"+tc.ask+"/"+tc.thing, func(t *testing.T) {
			stmts := ruleBase
			if tc.setup == "nogate" {
				stmts = ruleBase[1:]
			}
			r := newReader(t, mustOpen(t, append(append([]string{}, stmts...), ruleSetups[tc.setup]...)...))
			if got := ruleAnswer(t, r, tc.ask, tc.thing, tc.err); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// ruleAnswer asks r one question and checks that a thing not visible
// answers exactly as a missing one.
func ruleAnswer(t *testing.T, r *reader, ask, thing, wantErr string) string {
	t.Helper()
	switch ask {
	case askDB:
		if r.snapshot().DatabaseVisible() {
			return visible
		}
		return missing
	case askQuery, askTokenQuery, askMeta:
		ok := false
		_ = r.read(ask == askTokenQuery, func(_ *sql.Conn, _ *sql.Tx, s *Snapshot) error {
			if ask == askMeta {
				ok = s.TableMeta(thing) != nil
				return nil
			}
			q, found := s.Query(thing)
			if ok = found; found != s.QueryVisible(thing) || (found && q.Name != thing) {
				t.Fatalf("Query %v %t, QueryVisible %t", q, found, s.QueryVisible(thing))
			}
			for _, q := range s.Queries() {
				if q.Name == thing && !found {
					t.Fatalf("Queries lists %s", thing)
				}
			}
			return nil
		})
		if ok {
			return visible
		}
		return missing
	case askTable, askTokenTable:
		var tab *Table
		var err error
		_ = r.read(ask == askTokenTable, func(_ *sql.Conn, _ *sql.Tx, s *Snapshot) error {
			if tab, err = s.CheckTable(thing); (err == nil) != s.Visible(thing) {
				t.Fatalf("CheckTable %v, Visible %t", err, s.Visible(thing))
			}
			return nil
		})
		if err == nil {
			if tab.Name != thing {
				t.Fatalf("table %q for %q", tab.Name, thing)
			}
			return visible
		}
		if got, want := err.Error(), NotFound("db", thing).Error(); got != want || tablecast.ErrorCode(err) != tablecast.ENOTFOUND {
			t.Fatalf("error %q (%s), want %q: not the answer for a missing table", got, tablecast.ErrorCode(err), want)
		}
		return missing
	}
	rows, err := r.query(false, thing)
	switch {
	case err == nil:
		return visible
	case tablecast.ErrorCode(err) == tablecast.EFORBIDDEN:
		return forbidden
	}
	if msg := tablecast.ErrorMessage(err); msg != wantErr || strings.Contains(msg+rows, "hunter") {
		t.Fatalf("error %q, rows %q; want %q", msg, rows, wantErr)
	}
	return missing
}

// TestGate_RuleSecretsStayPrivate: no visible answer of an anonymous
// query reads a private row.
func TestGate_RuleSecretsStayPrivate(t *testing.T) {
	r := newReader(t, mustOpen(t, append(append([]string{}, ruleBase...), ruleSetups["listed"]...)...))
	for _, q := range []string{"select * from pub", "select * from pubview", "select * from PUB, pubview"} {
		rows, err := r.query(false, q)
		if err != nil || strings.Contains(rows, "hunter") || !strings.Contains(rows, "ok-pub") {
			t.Fatalf("%s: %q %v", q, rows, err)
		}
	}
}

// TestTablePublic: the primary's question (may anyone read the rows a
// write returns) gets the read path's answer at the same TXID.
func TestTablePublic(t *testing.T) {
	for _, setup := range []string{"listed", "listed-nosql", "all", "none", "sqlonly", "switched-off", "nogate"} {
		stmts := ruleBase
		if setup == "nogate" {
			stmts = ruleBase[1:]
		}
		db := mustOpen(t, append(append([]string{}, stmts...), ruleSetups[setup]...)...)
		s := newReader(t, db).snapshot()
		// Names as spelled in the schema, as the primary asks.
		for _, name := range []string{"pub", "priv", "Mixed", "_secret", "pubview", "leakview", "unlistedview"} {
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			got, err := TablePublic(context.Background(), tx, name)
			_ = tx.Rollback()
			if err != nil || got != s.Visible(name) {
				t.Errorf("%s: TablePublic(%s) = %t (%v), Visible %t", setup, name, got, err, s.Visible(name))
			}
		}
	}
}

// TestLastChange: the last audited change of a table, none for a table
// never published, and none (no error) before the audit table exists.
func TestLastChange(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, `CREATE TABLE a (id INTEGER PRIMARY KEY)`, `CREATE TABLE b (id INTEGER PRIMARY KEY)`)
	last := func(table string) (Change, bool) {
		t.Helper()
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		c, ok, err := LastChange(ctx, tx, table)
		if err != nil {
			t.Fatal(err)
		}
		return c, ok
	}
	if _, ok := last("a"); ok {
		t.Fatal("a change before any audit table")
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return CreateTables(ctx, tx) },
		func() error { return Publish(ctx, tx, "a", "alice") },
		func() error { return Unpublish(ctx, tx, "a", "bob") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if c, ok := last("a"); !ok || c.Action != ActionUnpublish || c.Token != "bob" || c.At == "" {
		t.Errorf("a: %+v %v, want bob's unpublish", c, ok)
	}
	if c, ok := last("b"); ok {
		t.Errorf("b: %+v, want none", c)
	}
}

// cannedRow inserts a canned query into _canned_queries.
func cannedRow(name, text string, public bool) string {
	p := "0"
	if public {
		p = "1"
	}
	return "INSERT INTO _canned_queries (name, sql, public, updated_at, updated_by) VALUES ('" + name + "', '" +
		strings.ReplaceAll(text, "'", "''") + "', " + p + ", 'now', 'test')"
}

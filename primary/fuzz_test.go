package primary

import (
	"bytes"
	"database/sql"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tablecast/tablecast"
)

// fuzzColumns has one column of each affinity; fuzzTableSQL is the STRICT
// table SQLite checks their values against (ANY where STRICT has no match).
var (
	fuzzColumns = []column{
		{name: "i", aff: affInteger},
		{name: "f", aff: affReal},
		{name: "s", aff: affText},
		{name: "b", aff: affBlob},
		{name: "n", aff: affNumeric},
	}
	fuzzTableSQL = `CREATE TABLE t (i INTEGER, f REAL, s TEXT, b ANY, n ANY) STRICT`
)

// fuzzTypes are the SQLite storage classes each affinity may receive.
var fuzzTypes = map[affinity][]string{
	affInteger: {"integer", "null"},
	affReal:    {"real", "null"},
	affText:    {"text", "null"},
	affBlob:    {"integer", "real", "text", "blob", "null"},
	affNumeric: {"integer", "real", "text", "null"},
}

// FuzzDecodeRows feeds request bodies to the insert decoder and the row
// validation. Neither may panic or fail with anything but EINVALID, and
// every row they accept must go into a STRICT table as the storage class
// its column's affinity promises.
func FuzzDecodeRows(f *testing.F) {
	for _, seed := range []string{
		`{"row": {"i": 1, "f": 1.5, "s": "x", "b": {"$base64": true, "encoded": "AAE="}, "n": 2}}`,
		`{"rows": [{"i": true, "f": 2, "s": {"a": [1, null]}}, {"b": "text", "n": 1e10}], "return": true}`,
		`{"rows": [{"i": null, "f": null, "s": null, "b": null, "n": null}], "ignore": true}`,
		`{"row": {"i": 9223372036854775807, "f": -0.0, "s": "\u0000\ud800", "b": 1.5e-300, "n": false}}`,
		`{"row": {"i": 92233720368547758080}}`,
		`{"row": {"f": 1e400}}`,
		`{"row": {"b": {"$base64": true, "encoded": "@@"}}}`,
		`{"row": {"s": [1, 2, {"x": "y"}]}, "replace": true}`,
		`{"rows": [], "row": {}}`,
		`{"row": {"I": 1, "i": 2}}`,
		`{"row": {"x": 1}}`,
		`{"row": 1}`,
		`[1, 2]`,
		``,
		`{`,
		"{\"row\": {\"s\": \"caf\xe9\"}}",
		"{\"rows\": [{\"s\": \"\xed\xa0\x80\"}, {\"s\xff\": 1}]}",
		`{"row": {"s": "\udc00\ud834\udd1e"}}`,
	} {
		f.Add([]byte(seed))
	}
	db := openFuzzDB(f, fuzzTableSQL)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeInsert(body, 50)
		if err != nil {
			assertInvalid(t, err)
			return
		}
		checkFuzzText(t, body, req.rows)
		rows, err := bindRows(req.rows, fuzzColumns)
		if err != nil {
			assertInvalid(t, err)
			return
		}
		for i, r := range rows {
			checkFuzzRow(t, db, i, r)
		}
	})
}

// openFuzzDB opens an in-memory database, running schema if not empty.
func openFuzzDB(tb testing.TB, schema string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { _ = db.Close() })
	if schema == "" {
		return db
	}
	if _, err := db.Exec(schema); err != nil {
		tb.Fatal(err)
	}
	return db
}

func assertInvalid(t *testing.T, err error) {
	t.Helper()
	var e *tablecast.Error
	if !errors.As(err, &e) || e.Code != tablecast.EINVALID || e.Message == "" {
		t.Fatalf("error %v (%T), want an EINVALID *tablecast.Error", err, err)
	}
}

// checkFuzzRow checks the Go values of a bound row, inserts it and checks
// the storage class SQLite gave each value.
func checkFuzzRow(t *testing.T, db *sql.DB, i int, r boundRow) {
	t.Helper()
	for j, arg := range r.args {
		if f, ok := arg.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
			t.Fatalf("row %d column %s: non-finite float %v", i, r.cols[j], f)
		}
	}
	tb := &table{name: "t"}
	if _, err := db.Exec(insertSQL(tb, "INSERT", r.cols, returnNone), r.args...); err != nil {
		t.Fatalf("row %d: SQLite refused %#v: %s", i, r.args, err)
	}
	defer func() { _, _ = db.Exec(`DELETE FROM t`) }()
	for j, name := range r.cols {
		var typ string
		q := `SELECT typeof(` + tablecast.QuoteIdent(name) + `) FROM t`
		if err := db.QueryRow(q).Scan(&typ); err != nil {
			t.Fatal(err)
		}
		c, _ := (&table{cols: fuzzColumns}).column(name)
		if !slices.Contains(fuzzTypes[c.aff], typ) {
			t.Fatalf("row %d column %s (%s): stored %s from %#v", i, name, c.aff, typ, r.args[j])
		}
	}
}

// FuzzDecodeCreate feeds request bodies to the /-/create decoder. It may
// only fail with EINVALID; what it accepts must be a CREATE TABLE that
// SQLite runs and rows that SQLite takes, or a constraint error (duplicate
// or null keys) that the handler reports as a bad row.
func FuzzDecodeCreate(f *testing.F) {
	for _, seed := range []string{
		`{"table": "t", "pk": "id", "columns": [{"name": "id", "type": "integer"}, {"name": "b", "type": "BLOB"}]}`,
		`{"table": "t", "pks": ["a", "b"], "rows": [{"a": 1, "b": "x", "c": [1]}, {"a": 2, "b": null}]}`,
		`{"table": "t", "row": {"x": 1.5, "y": true, "z": {"$base64": true, "encoded": ""}}}`,
		`{"table": "T", "pk": "A", "rows": [{"a": "k"}, {"a": "k"}]}`,
		`{"table": "t", "columns": [{"name": "a"}, {"name": "A"}]}`,
		`{"table": "_x", "columns": [{"name": "a"}]}`,
		`{"table": "t", "columns": [{"name": "rowid"}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeCreate(body, 50)
		if err != nil {
			assertInvalid(t, err)
			return
		}
		db := openFuzzDB(t, "")
		if _, err := db.Exec(createTableSQL(req.table, req.cols, req.pks)); err != nil {
			t.Fatalf("SQLite refused %q: %s", createTableSQL(req.table, req.cols, req.pks), err)
		}
		tb := &table{name: req.table}
		for i, r := range req.rows {
			_, err := db.Exec(insertSQL(tb, "INSERT", r.cols, returnNone), r.args...)
			if err != nil && tablecast.ErrorCode(sqliteError("insert", err)) != tablecast.EINVALID {
				t.Fatalf("row %d: SQLite refused %#v: %s", i, r.args, err)
			}
		}
	})
}

// checkFuzzText: accepted text is what was sent. Every string and column
// name is valid UTF-8, and holds U+FFFD only if the body did: never one
// encoding/json put in place of bytes that were not text.
func checkFuzzText(t *testing.T, body []byte, rows []row) {
	t.Helper()
	sentFFFD := bytes.Contains(body, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`))
	for i, r := range rows {
		for j, v := range r.vals {
			for _, s := range []string{r.cols[j], v.s} {
				if !utf8.ValidString(s) || (!sentFFFD && strings.ContainsRune(s, utf8.RuneError)) {
					t.Fatalf("row %d column %q: text %q changed from the body %q", i, r.cols[j], s, body)
				}
			}
		}
	}
}

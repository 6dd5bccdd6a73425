package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// sqliteFile makes a SQLite file named name in dir with stmts.
func sqliteFile(t *testing.T, dir, name string, stmts ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %s", s, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// runImportCLI runs `tablecast import` and returns its output and error.
func runImportCLI(t *testing.T, base, token string, args ...string) (string, error) {
	t.Helper()
	args = append([]string{"import"}, args...)
	cmd := exec.Command(binPath, append(args, "-url", base, "-token", token)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// getRaw fetches url (with token when not "") and returns status and body.
func getRawToken(t *testing.T, u, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// assertMissing checks that db/table answers on base exactly as a table
// that never existed (byte for byte, the names swapped), and db as a
// missing database when wholeDB.
func assertMissing(t *testing.T, base, db, table string, wholeDB bool) {
	t.Helper()
	for _, suffix := range []string{".json", "/1.json", ".csv", ""} {
		s1, b1 := getRawToken(t, base+"/"+db+"/"+table+suffix, "")
		s2, b2 := getRawToken(t, base+"/"+db+"/nosuchtable"+suffix, "")
		if s1 != s2 || !bytes.Equal(bytes.ReplaceAll(b1, []byte(table), []byte("X")), bytes.ReplaceAll(b2, []byte("nosuchtable"), []byte("X"))) {
			t.Fatalf("%s/%s%s: %d %q; missing table: %d %q", db, table, suffix, s1, b1, s2, b2)
		}
	}
	if wholeDB {
		for _, suffix := range []string{".json", ""} {
			s1, b1 := getRawToken(t, base+"/"+db+suffix, "")
			s2, b2 := getRawToken(t, base+"/nosuchdb"+suffix, "")
			if s1 != 404 || !bytes.Equal(bytes.ReplaceAll(b1, []byte(db), []byte("X")), bytes.ReplaceAll(b2, []byte("nosuchdb"), []byte("X"))) {
				t.Fatalf("%s%s: %d %q; missing database: %d %q", db, suffix, s1, b1, s2, b2)
			}
		}
	}
}

func TestImport_Cluster(t *testing.T) {
	// The primary answers before any replica is asked (import-wait 1ns):
	// the command's own wait (-wait) makes the database ready everywhere.
	c := devcluster.MustStart(t, binPath, func(o *devcluster.Options) { o.ImportWait = time.Nanosecond })
	ctx := context.Background()
	dir := t.TempDir()
	prim, repl := c.Nodes[0].APIURL, c.Replica().APIURL
	v1 := sqliteFile(t, dir, "shop.db",
		`CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT)`,
		`INSERT INTO products VALUES (1, 'kettle'), (2, 'teapot')`,
		`CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT)`,
		`INSERT INTO orders VALUES (1, 'secret@example.com')`,
		`CREATE VIEW product_names AS SELECT name FROM products`,
		`CREATE INDEX products_name ON products(name)`,
		`CREATE TABLE log (msg TEXT)`,
		`CREATE TRIGGER products_log AFTER INSERT ON products BEGIN INSERT INTO log VALUES (new.name); END`,
		`CREATE TABLE _public_tables (table_name TEXT PRIMARY KEY)`,
		`INSERT INTO _public_tables VALUES ('products')`,
	)

	t.Run("PrivateUntilPublished", func(t *testing.T) {
		// Sent to a replica: forwarded to the primary, body streamed.
		out, err := runImportCLI(t, repl, c.Token, v1)
		if err != nil {
			t.Fatalf("import: %v\n%s", err, out)
		}
		if !strings.Contains(out, "imported shop") || !strings.Contains(out, "3 tables, 1 views, 1 indexes, 1 triggers") ||
			!strings.Contains(out, "public: none") || !strings.Contains(out, "NOT yet applied on every node within tablecast.import-wait") ||
			!strings.Contains(out, "waiting up to 10m0s more for every node (-wait)\n") || strings.Count(out, "  applied on ") < 2 ||
			!strings.HasSuffix(out, "applied on every node (3)\n") {
			t.Fatalf("output:\n%s", out)
		}
		// Everything arrived on the primary (read with the admin token):
		// the tables, the view, and the trigger fires on an insert.
		for path, want := range map[string]string{
			"/shop/products.json?_shape=array":      `[{"id":1,"name":"kettle"},{"id":2,"name":"teapot"}]`,
			"/shop/product_names.json?_shape=array": `[{"name":"kettle"},{"name":"teapot"}]`,
			"/shop/orders.json?_shape=array":        `[{"id":1,"email":"secret@example.com"}]`,
		} {
			if s, b := getRawToken(t, prim+path, c.Token); s != 200 || strings.TrimSpace(string(b)) != want {
				t.Fatalf("%s on the primary: %d %s", path, s, b)
			}
		}
		if _, err := c.PostTo(ctx, prim+"/shop/products/-/insert", map[string]any{"row": map[string]any{"id": 3, "name": "cup"}}, 201); err != nil {
			t.Fatal(err)
		}
		if s, b := getRawToken(t, prim+"/shop/log.json?_shape=array", c.Token); s != 200 || strings.TrimSpace(string(b)) != `[{"rowid":1,"msg":"cup"}]` {
			t.Fatalf("the trigger's log: %d %s", s, b)
		}
		// On every replica, at once (the command waited): as missing.
		for _, r := range c.Nodes[1:] {
			for _, table := range []string{"products", "orders", "product_names", "log", "_public_tables"} {
				assertMissing(t, r.APIURL, "shop", table, table == "products")
			}
		}
		if _, err := c.PostTo(ctx, prim+"/shop/products/-/publish", map[string]any{}, 200); err != nil {
			t.Fatal(err)
		}
		for _, r := range c.Nodes[1:] {
			devcluster.WaitFor(t, r.APIURL+"/shop/products/2.json", 200, 5*time.Second)
			assertMissing(t, r.APIURL, "shop", "orders", false)
		}
	})

	t.Run("ExistingNameRefused", func(t *testing.T) {
		out, err := runImportCLI(t, prim, c.Token, v1)
		if err == nil || !strings.Contains(out, "409") || !strings.Contains(out, "exists") {
			t.Fatalf("import over an existing name: %v\n%s", err, out)
		}
		devcluster.WaitFor(t, repl+"/shop/products/2.json", 200, time.Second)
	})

	t.Run("ReplaceKeepPublic", func(t *testing.T) {
		v2 := sqliteFile(t, dir, "shop2.db",
			`CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL)`,
			`INSERT INTO products VALUES (10, 'v2 cup', 1.5), (11, 'v2 mug', 2.5), (12, 'v2 jar', 3)`,
			`CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT)`,
			`CREATE TABLE _public_tables (table_name TEXT PRIMARY KEY)`,
			`INSERT INTO _public_tables VALUES ('products'), ('nosuch')`,
		)
		// Warm the replicas' caches and statements on the old file.
		for _, r := range c.Nodes[1:] {
			getRawToken(t, r.APIURL+"/shop/products.json", "")
		}
		out, err := runImportCLI(t, repl, c.Token, v2, "-db", "shop", "-replace", "-keep-public")
		if err != nil {
			t.Fatalf("import: %v\n%s", err, out)
		}
		if !strings.Contains(out, "replaced shop") || !strings.Contains(out, "public: products") || !strings.Contains(out, "nosuch") || !strings.Contains(out, "applied on every node") {
			t.Fatalf("output:\n%s", out)
		}
		// The command returned: every replica serves the new file whole.
		for _, r := range c.Nodes[1:] {
			s, b := getRawToken(t, r.APIURL+"/shop/products.json?_shape=array", "")
			if s != 200 || strings.TrimSpace(string(b)) != `[{"id":10,"name":"v2 cup","price":1.5},{"id":11,"name":"v2 mug","price":2.5},{"id":12,"name":"v2 jar","price":3.0}]` {
				t.Fatalf("%s after replace: %d %s", r.Region, s, b)
			}
			if s, b := getRawToken(t, r.APIURL+"/shop/products/2.json", ""); s != 404 {
				t.Fatalf("%s: an old row after replace: %d %s", r.Region, s, b)
			}
			assertMissing(t, r.APIURL, "shop", "orders", false)
			assertMissing(t, r.APIURL, "shop", "log", false)
		}
	})

	t.Run("WaitRunsOut", func(t *testing.T) {
		// -wait 0: the primary's answer, as it is.
		out, err := runImportCLI(t, prim, c.Token, v1, "-db", "nowait", "-wait", "0")
		if err != nil || !strings.Contains(out, "imported nowait") || !strings.Contains(out, "NOT yet applied on every node") || strings.Contains(out, "waiting up to") {
			t.Fatalf("-wait 0: %v\n%s", err, out)
		}
		// A wait too short to ask: an error, the import done all the same.
		out, err = runImportCLI(t, prim, c.Token, v1, "-db", "shortwait", "-wait", "1ns")
		if err == nil || !strings.Contains(out, "NOT applied on every node within -wait 1ns (the import itself is done") ||
			!strings.Contains(out, "shortwait is imported (TXID") {
			t.Fatalf("-wait 1ns: %v\n%s", err, out)
		}
		if s, b := getRawToken(t, prim+"/shortwait/products.json?_shape=array", c.Token); s != 200 || !strings.Contains(string(b), "kettle") {
			t.Fatalf("after the wait ran out: %d %s", s, b)
		}
		out, err = runImportCLI(t, prim, c.Token, v1, "-db", "negative", "-wait", "-1s")
		if err == nil || !strings.Contains(out, "must not be negative") {
			t.Fatalf("-wait -1s: %v\n%s", err, out)
		}
	})

	t.Run("BadFilesChangeNothing", func(t *testing.T) {
		notSQLite := filepath.Join(dir, "data.db")
		if err := os.WriteFile(notSQLite, []byte("id,name\n1,kettle\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(v1)
		if err != nil {
			t.Fatal(err)
		}
		corrupt := filepath.Join(dir, "corrupt.db")
		for i := 4096 + 8; i < 8192; i++ {
			raw[i] = 0xA5
		}
		if err := os.WriteFile(corrupt, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		_, before := getRawToken(t, repl+"/shop/products.json", "")
		for _, f := range []struct{ path, msg string }{{notSQLite, "not a SQLite database"}, {corrupt, "integrity_check"}} {
			out, err := runImportCLI(t, repl, c.Token, f.path, "-db", "shop", "-replace")
			if err == nil || !strings.Contains(out, "400") || !strings.Contains(out, f.msg) {
				t.Fatalf("%s: %v\n%s", f.path, err, out)
			}
		}
		if _, after := getRawToken(t, repl+"/shop/products.json", ""); !bytes.Equal(before, after) {
			t.Fatalf("a refused import changed the table:\n%s\n%s", before, after)
		}
		if s, _ := getRawToken(t, prim+"/data.json", c.Token); s != 404 {
			t.Fatalf("a refused import made a database: %d", s)
		}
	})
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// TestSchema_ViewsExecuteOnReplicas: a view created and published through
// the API is read on a replica (and listed by its cached /db.json); execute
// with parameters changes a cached table page there; execute touching
// _public_tables or ATTACH is refused with nothing written; an index
// serves public SQL; a renamed public table is private on the replica.
func TestSchema_ViewsExecuteOnReplicas(t *testing.T) {
	c := devcluster.MustStart(t, binPath, nil)
	p, r := c.Nodes[0].APIURL, c.Nodes[1].APIURL
	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, p+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("POST %s: %d %q", path, resp.StatusCode, raw)
		}
		return resp.StatusCode, out
	}
	mustPost := func(path, body string) map[string]any {
		t.Helper()
		status, out := post(path, body)
		if status/100 != 2 {
			t.Fatalf("POST %s: %d %v", path, status, out)
		}
		return out
	}
	// at reads path on the replica at least as fresh as txid (a bookmark:
	// the replica waits until it has applied it) and checks its body holds want.
	var txid string
	at := func(path, want string) {
		t.Helper()
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		status, _, body := get(t, r+path+sep+"_txid="+txid)
		got, _ := json.Marshal(body)
		if status != 200 || !strings.Contains(string(got), want) {
			t.Fatalf("replica %s at %s: %d %s, want %q", path, txid, status, got, want)
		}
	}
	write := func(path, body string) map[string]any {
		t.Helper()
		out := mustPost(path, body)
		txid, _ = out["txid"].(string)
		return out
	}
	mustPost("/lib/-/create", `{"table": "pets", "pk": "id", "rows": [
		{"id": 1, "name": "Cleo", "kind": "cat"}, {"id": 2, "name": "Rex", "kind": "dog"}, {"id": 3, "name": "Tom", "kind": "cat"}]}`)
	write("/lib/pets/-/publish", ``)
	devcluster.WaitFor(t, r+"/lib/pets.json", 200, 10*time.Second)
	for range 2 { // cached on the replica
		get(t, r+"/lib.json")
		get(t, r+"/lib/pets.json")
	}

	t.Run("CreateViewPublishRead", func(t *testing.T) {
		out := write("/lib/-/create-view", `{"name": "cats", "sql": "select id, name from pets where kind = 'cat'"}`)
		if u, _ := out["unpublished"].([]any); len(u) != 0 {
			t.Errorf("unpublished %v", u)
		}
		at("/lib/pets.json", `"Cleo"`)
		assertPrivate404(t, r, "lib", "cats")
		write("/lib/cats/-/publish", ``)
		at("/lib/cats.json", `"name":"Tom"`)
		at("/lib.json", `"cats"`)
	})
	t.Run("ExecuteWithParams", func(t *testing.T) {
		out := write("/lib/-/execute", `{"sql": "alter table pets add column age integer; update pets set age = :age where id = :id",
			"params": {"age": 3, "id": 1}}`)
		if out["statements"] != 2.0 {
			t.Errorf("answer %v", out)
		}
		at("/lib/pets.json", `"age":3`) // the cached page changed
	})
	t.Run("RefusedWritesNothing", func(t *testing.T) {
		before := mustPost("/lib/-/execute", `{"sql": "select 1"}`)["txid"]
		for _, tc := range []struct{ sql, msg string }{
			{"delete from pets; insert into _public_tables values ('x', 'now', 'me')", "_public_tables is tablecast's own"},
			{"delete from pets; attach database 'other.db' as o", "ATTACH"},
			{"delete from pets; pragma writable_schema = 1", "PRAGMA writable_schema"},
		} {
			body, _ := json.Marshal(map[string]any{"sql": tc.sql})
			status, out := post("/lib/-/execute", string(body))
			if msg, _ := out["error"].(string); status != 403 || !strings.Contains(msg, tc.msg) || !strings.Contains(msg, "Statement 2") {
				t.Errorf("%s: %d %v, want 403 naming statement 2 and %q", tc.sql, status, out, tc.msg)
			}
		}
		after := write("/lib/-/execute", `{"sql": "select 1"}`)["txid"]
		if before == after {
			t.Fatalf("txid did not move: %v", after)
		}
		at("/lib/pets.json", `"name":"Rex"`) // the rows are all there
		status, _, body := get(t, r+"/lib/pets.json")
		if rows, _ := body["rows"].([]any); status != 200 || len(rows) != 3 {
			t.Errorf("pets after the refusals: %d %v", status, body)
		}
	})
	t.Run("IndexServesPublicSQL", func(t *testing.T) {
		write("/lib/pets/-/create-index", `{"columns": ["kind", "name desc"]}`)
		write("/lib/-/publish", `{"all_tables": false, "sql": true}`)
		q := "/lib/-/query.json?sql=" + url.QueryEscape("select name from pets where kind = 'dog'")
		at(q, `"name":"Rex"`)
	})
	t.Run("FullTextTablesArePrivate", func(t *testing.T) {
		out := write("/lib/pets/-/enable-fts", `{"columns": ["name"]}`)
		if out["fts_table"] != "pets_fts" {
			t.Fatalf("answer %v", out)
		}
		at("/lib/pets.json", `"Cleo"`)
		for _, name := range []string{"pets_fts", "pets_fts_data", "pets_fts_idx", "pets_fts_docsize", "pets_fts_config"} {
			assertPrivate404(t, r, "lib", name)
			s1, _, b1 := get(t, r+"/lib/-/query.json?sql="+url.QueryEscape("select * from "+name))
			s2, _, b2 := get(t, r+"/lib/-/query.json?sql="+url.QueryEscape("select * from nosuch"))
			if e1, e2 := strings.ReplaceAll(fmt.Sprint(b1), name, "X"), strings.ReplaceAll(fmt.Sprint(b2), "nosuch", "X"); s1 != s2 || s1 == 200 || e1 != e2 {
				t.Errorf("public SQL on %s: %d %v; on a missing table: %d %v", name, s1, b1, s2, b2)
			}
		}
	})
	t.Run("RenamedTableIsPrivate", func(t *testing.T) {
		out := write("/lib/-/execute", `{"sql": "alter table pets rename to animals"}`)
		if fmt.Sprint(out["unpublished"]) != "[pets]" {
			t.Errorf("unpublished %v, want [pets]", out["unpublished"])
		}
		at("/lib/cats.json", `"name":"Tom"`) // the view follows the rename (SQLite rewrites it)
		assertPrivate404(t, r, "lib", "animals")
		assertPrivate404(t, r, "lib", "pets")
		write("/lib/-/execute", `{"sql": "create table pets (id integer primary key); insert into pets values (1)"}`)
		at("/lib/cats.json", `"name":"Tom"`)
		assertPrivate404(t, r, "lib", "pets") // a new table of the old name is private
	})
}

// assertPrivate404 checks that table answers on base exactly as a missing
// table does.
func assertPrivate404(t *testing.T, base, db, table string) {
	t.Helper()
	for _, suffix := range []string{".json", "/1.json"} {
		s1, _, b1 := get(t, base+"/"+db+"/"+table+suffix)
		s2, _, b2 := get(t, base+"/"+db+"/nosuchtable"+suffix)
		e1 := strings.ReplaceAll(fmt.Sprint(b1), table, "X")
		e2 := strings.ReplaceAll(fmt.Sprint(b2), "nosuchtable", "X")
		if s1 != 404 || s2 != 404 || e1 != e2 {
			t.Fatalf("%s%s: %d %v; missing table: %d %v", table, suffix, s1, b1, s2, b2)
		}
	}
}

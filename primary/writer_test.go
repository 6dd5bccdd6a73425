package primary

import (
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tablecast/tablecast"
)

func TestWriter_ServeHTTP(t *testing.T) {
	t.Run("UnknownPath", func(t *testing.T) {
		e := newZooEnv(t)
		for _, path := range []string{"/", "/zoo", "/zoo/dogs", "/zoo/dogs/-/alter", "/zoo/dogs/-/insert/x"} {
			before := e.snapshot("zoo")
			assertError(t, e.post(path, `{"row": {"id": 9}}`), http.StatusNotFound, "Not found")
			if e.snapshot("zoo") != before {
				t.Errorf("%s: database changed", path)
			}
		}
	})
	t.Run("MethodNotAllowed", func(t *testing.T) {
		e := newZooEnv(t)
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			rec := e.request(method, "/zoo/dogs/-/insert", `{"row": {"id": 9}}`, "Bearer "+testSecret)
			assertError(t, rec, http.StatusMethodNotAllowed, "Method not allowed")
			if got := rec.Header().Get("Allow"); got != "POST" {
				t.Errorf("Allow %q, want POST", got)
			}
		}
	})
	t.Run("TXID", func(t *testing.T) {
		e := newZooEnv(t)
		var last tablecast.TXID
		for i, body := range []string{`{"row": {"id": 10}}`, `{"row": {"id": 11}}`} {
			rec := e.post("/zoo/dogs/-/insert", body)
			m := decodeJSON(t, rec)
			header := rec.Header().Get(tablecast.HeaderTXID)
			if m["txid"] != header {
				t.Fatalf("body txid %v, header %q", m["txid"], header)
			}
			txid, err := tablecast.ParseTXID(header)
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 && txid != last+1 {
				t.Errorf("txid %s after %s, want one more", txid, last)
			}
			last = txid
		}
	})
	t.Run("BodyTooLarge", func(t *testing.T) {
		e := newZooEnv(t)
		e.w.MaxBody = 100
		body := `{"row": {"id": 10, "name": "` + strings.Repeat("x", 200) + `"}}`
		e.checkBad(t, "zoo", badCase{path: "/zoo/dogs/-/insert", body: body, status: http.StatusRequestEntityTooLarge, msg: "too large"})
	})
	t.Run("Closed", func(t *testing.T) {
		e := newZooEnv(t)
		if err := e.w.Close(); err != nil {
			t.Fatal(err)
		}
		assertError(t, e.post("/zoo/dogs/-/insert", `{"row": {"id": 10}}`), http.StatusServiceUnavailable, "closed")
	})
}

func TestWriter_ServeHTTP_Auth(t *testing.T) {
	routes := []struct{ path, body string }{
		{"/zoo/-/create", `{"table": "cats", "columns": [{"name": "id"}]}`},
		{"/new/-/create", `{"table": "cats", "columns": [{"name": "id"}]}`},
		{"/zoo/dogs/-/insert", `{"row": {"id": 10}}`},
		{"/zoo/dogs/-/upsert", `{"row": {"id": 1, "name": "x"}}`},
		{"/zoo/dogs/1/-/delete", ``},
		{"/zoo/dogs/-/publish", ``},
		{"/zoo/dogs/-/unpublish", ``},
	}
	for _, tt := range []struct {
		name, auth, msg string
	}{
		{"NoToken", "", "Missing token"},
		{"WrongToken", "Bearer tc_wrong", "Invalid token"},
		{"WrongScheme", "Basic " + testSecret, "Invalid token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newZooEnv(t)
			for _, r := range routes {
				db := strings.Split(r.path, "/")[1]
				before := e.snapshot(db)
				rec := e.request(http.MethodPost, r.path, r.body, tt.auth)
				assertError(t, rec, http.StatusUnauthorized, tt.msg)
				if got := rec.Header().Get("WWW-Authenticate"); got != "Bearer" {
					t.Errorf("%s: WWW-Authenticate %q, want Bearer", r.path, got)
				}
				if e.snapshot(db) != before {
					t.Errorf("%s: database changed", r.path)
				}
			}
		})
	}
	t.Run("BeforeBody", func(t *testing.T) {
		e := newZooEnv(t)
		e.w.MaxBody = 10
		rec := e.request(http.MethodPost, "/zoo/dogs/-/insert", strings.Repeat("x", 100), "")
		assertError(t, rec, http.StatusUnauthorized, "Missing token")
	})
	t.Run("RightToken", func(t *testing.T) {
		e := newZooEnv(t)
		for _, r := range routes {
			rec := e.post(r.path, r.body)
			if rec.Code >= 300 {
				t.Errorf("%s: status %d: %s", r.path, rec.Code, rec.Body)
			}
		}
	})
}

func TestWriter_Close(t *testing.T) {
	e := newZooEnv(t)
	if err := e.w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(e.w.dbs) != 0 {
		t.Errorf("%d handles still open", len(e.w.dbs))
	}
	if err := e.w.Close(); err != nil {
		t.Errorf("second close: %s", err)
	}
}

func TestWriter_ServeHTTP_Concurrent(t *testing.T) {
	e := newZooEnv(t)
	const n = 20
	txids := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := e.post("/zoo/dogs/-/insert", fmt.Sprintf(`{"row": {"id": %d}}`, 100+i))
			if rec.Code != http.StatusCreated {
				t.Errorf("status %d: %s", rec.Code, rec.Body)
			}
			txids <- rec.Header().Get(tablecast.HeaderTXID)
		}()
	}
	wg.Wait()
	close(txids)
	// Writes that waited for the same transaction share its TXID (group
	// commit); the write counter (the TXID here) counts transactions.
	seen := make(map[string]bool)
	for txid := range txids {
		if txid == "" {
			t.Errorf("a write without a TXID")
		}
		seen[txid] = true
	}
	if got := e.queryString("zoo", `SELECT version FROM _table_versions WHERE table_name = ''`); got != fmt.Sprint(len(seen)+3) {
		t.Errorf("write counter %s after %d transactions (and the 3 creates)", got, len(seen))
	}
	if got := e.queryString("zoo", `SELECT count(*) FROM dogs WHERE id >= 100`); got != fmt.Sprint(n) {
		t.Errorf("rows %s, want %d", got, n)
	}
}

func TestWriter_ServeHTTP_ExternalDatabase(t *testing.T) {
	e := newTestEnv(t)
	conn, err := sql.Open("sqlite3", filepath.Join(e.dir, "ext.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(`CREATE TABLE items (sku TEXT PRIMARY KEY, price NUMERIC, added DATETIME, flag BOOLEAN)`); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	rec := e.post("/ext/items/-/insert", `{"return": true, "row": {"sku": "a1", "price": 2.5, "added": 20240101, "flag": true}}`)
	want := `"rows":[{"sku":"a1","price":2.5,"added":20240101,"flag":1}]`
	if rec.Code != http.StatusCreated || !strings.Contains(rec.Body.String(), want) {
		t.Errorf("status %d, body %s, want %s", rec.Code, rec.Body, want)
	}
	// NUMERIC affinity (DATETIME) takes dates as text, as SQLite stores them.
	rec = e.post("/ext/items/-/insert", `{"return": true, "row": {"sku": "b", "added": "2024-01-01"}}`)
	if want := `"added":"2024-01-01"`; rec.Code != http.StatusCreated || !strings.Contains(rec.Body.String(), want) {
		t.Errorf("status %d, body %s, want %s", rec.Code, rec.Body, want)
	}
	e.checkBad(t, "ext", badCase{path: "/ext/items/-/insert", body: `{"row": {"sku": "c", "added": {"y": 2024}}}`,
		status: http.StatusBadRequest, msg: `Row 0: column "added" expects numeric, got object`})
	e.mustPost("/ext/items/-/publish", ``, http.StatusOK)
	if got := e.queryString("ext", `SELECT table_name FROM _public_tables`); got != "items" {
		t.Errorf("public %q", got)
	}
}

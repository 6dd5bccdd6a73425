package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tablecast/tablecast/internal/rowfile"
)

func TestParseInsert(t *testing.T) {
	o, err := parseInsert([]string{"-pk", "a", "db", "t", "-pk", "b", "data.TSV", "-ignore", "-batch-size", "7"})
	if err != nil {
		t.Fatal(err)
	}
	if o.db != "db" || o.table != "t" || o.file != "data.TSV" || o.format != rowfile.TSV || strings.Join(o.pks, ",") != "a,b" || !o.ignore || o.batchRows != 7 {
		t.Fatalf("got %+v", o)
	}
	if o, err := parseInsert([]string{"db", "t", "-"}); err != nil || o.format != rowfile.JSON {
		t.Fatalf("stdin: got %+v, %v; want JSON as sqlite-utils", o, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"db", "t"}, "want DB TABLE FILE"},
		{[]string{"db", "t", "x.txt"}, "cannot tell the format of x.txt"},
		{[]string{"db", "t", "x.csv", "-replace", "-ignore"}, "either -replace or -ignore"},
		{[]string{"db", "t", "x.csv", "-csv", "-nl"}, "one of -csv"},
		{[]string{"db", "t", "x.json", "-detect-types"}, "-detect-types is for CSV and TSV"},
		{[]string{"db", "t", "x.csv", "-batch-size", "0"}, "at least 1"},
		{[]string{"_bad", "t", "x.csv"}, "insert: "},
	} {
		if _, err := parseInsert(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
}

// fakeWriter records the requests of an insert and refuses, when refuse
// is set, the insert batch holding that record's text.
type fakeWriter struct {
	mu      sync.Mutex
	paths   []string
	bodies  []string
	refuse  string // a value: its batch is refused, naming its row
	created bool
}

func (f *fakeWriter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paths, f.bodies = append(f.paths, r.URL.Path), append(f.bodies, string(body))
	if strings.HasSuffix(r.URL.Path, "/-/create") {
		f.created = true
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"ok":true}`))
		return
	}
	var req struct{ Rows []map[string]any }
	if err := json.Unmarshal(body, &req); err != nil {
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"ok":false,"error":"Invalid JSON"}`))
		return
	}
	for i, row := range req.Rows {
		if f.refuse != "" && row["name"] == f.refuse {
			w.WriteHeader(400)
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "Row " + itoa(i) + `: column "name" expects integer, got string`})
			return
		}
	}
	w.WriteHeader(201)
	_, _ = w.Write([]byte(`{"ok":true}`))
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func fakeInsert(t *testing.T, f *fakeWriter, data string, mod func(*insertOptions)) (int64, error) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	o := &insertOptions{db: "db", table: "t", file: "data.csv", format: rowfile.CSV, batchRows: 1000, batchBytes: insertBatchBytes, url: srv.URL}
	if mod != nil {
		mod(o)
	}
	return insertFile(context.Background(), o, strings.NewReader(data), int64(len(data)), io.Discard)
}

func TestInsertFile_BodyLimitSplitsBatches(t *testing.T) {
	f := &fakeWriter{}
	var data strings.Builder
	data.WriteString("id,name\n")
	for i := range 50 {
		data.WriteString(itoa(i) + "," + strings.Repeat("x", 100) + "\n")
	}
	n, err := fakeInsert(t, f, data.String(), func(o *insertOptions) { o.batchBytes = 1000 })
	if err != nil || n != 50 {
		t.Fatalf("got %d, %v; want 50 rows", n, err)
	}
	rows := 0
	for i, b := range f.bodies[1:] {
		// The limit is on the rows; the options add a few bytes.
		if len(b) > 1000+len(`}`) {
			t.Errorf("body %d: %d bytes, over the limit", i, len(b))
		}
		var req struct{ Rows []map[string]any }
		if err := json.Unmarshal([]byte(b), &req); err != nil {
			t.Fatalf("body %d: %v: %s", i, err, b)
		}
		rows += len(req.Rows)
	}
	if rows != 50 || len(f.bodies) < 7 {
		t.Fatalf("got %d rows in %d requests", rows, len(f.bodies))
	}
}

func TestInsertFile_Errors(t *testing.T) {
	data := "id,name\n1,a\n2,b\n3,c\n4,d\n5,\"e\n"
	t.Run("BadFirstBatchMakesNoTable", func(t *testing.T) {
		f := &fakeWriter{}
		_, err := fakeInsert(t, f, data, nil)
		want := "data.csv: line 6, column 6 (record 5): a quoted field is not closed"
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nothing of its batch (records 1-5) was written; 0 rows were written before it") {
			t.Fatalf("got %v, want %q", err, want)
		}
		if f.created || len(f.paths) > 0 {
			t.Fatalf("requests were sent: %v", f.paths)
		}
	})
	t.Run("BadLaterBatch", func(t *testing.T) {
		f := &fakeWriter{}
		n, err := fakeInsert(t, f, data, func(o *insertOptions) { o.batchRows = 2 })
		if n != 4 || err == nil || !strings.Contains(err.Error(), "nothing of its batch (record 5) was written; 4 rows were written before it (with -pk, run the same command with -ignore to resume)") {
			t.Fatalf("got %d, %v", n, err)
		}
	})
	t.Run("RefusedRow", func(t *testing.T) {
		f := &fakeWriter{refuse: "c"}
		n, err := fakeInsert(t, f, data[:len(data)-5], func(o *insertOptions) { o.batchRows = 2 })
		want := `data.csv: line 4, column 3 (record 3, column "name"): Row 0: column "name" expects integer, got string (CSV values are text; -detect-types sends numbers)` +
			"\nnothing of its batch (records 3-4) was written; 2 rows were written before it"
		if n != 2 || err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %d, %v; want %q", n, err, want)
		}
	})
}

// A 503 that says nothing was written (the primary moved) is retried;
// the rows arrive once.
func TestInsertFile_RetriesUnavailable(t *testing.T) {
	defer func(d time.Duration) { insertRetryFirst = d }(insertRetryFirst)
	insertRetryFirst = time.Millisecond
	var mu sync.Mutex
	inserts, refusals := 0, 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/-/insert") {
			if refusals > 0 {
				refusals--
				w.WriteHeader(503)
				_, _ = w.Write([]byte(`{"ok":false,"error":"The primary moved while the write was forwarded: nothing was written, retry"}`))
				return
			}
			inserts++
		}
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	o := &insertOptions{db: "db", table: "t", file: "a.csv", format: rowfile.CSV, batchRows: 10, batchBytes: insertBatchBytes, url: srv.URL}
	n, err := insertFile(context.Background(), o, strings.NewReader("a\n1\n2\n"), -1, io.Discard)
	if err != nil || n != 2 || inserts != 1 || refusals != 0 {
		t.Fatalf("got %d rows, %v; %d inserts, %d refusals left", n, err, inserts, refusals)
	}
}

// On a terminal the bar shows rows and bytes; the summary is printed by
// runInsert.
func TestInsertBar(t *testing.T) {
	var out strings.Builder
	b := newInsertBar(&out, 1000)
	b.set(42, 500)
	b.finish()
	if got := out.String(); !strings.Contains(got, "42 rows (") || !strings.Contains(got, "rows/s)") || !strings.Contains(got, "1.0/1.0 kB") {
		t.Fatalf("bar: %q", got)
	}
}

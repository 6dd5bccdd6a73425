package replica

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tablecast/tablecast/replica/gate"
)

// The Datasette differential test: testdata/datasette/golden.jsonl holds
// Datasette's answers to testdata/datasette/cases.txt over the database of
// testdata/datasette/fixtures.sql, recorded by scripts/datasette-golden.sh.
// TestReader_DatasetteGolden asks tablecast the same cases and compares both
// answers after normalize. Every case whose answers differ must be listed,
// with its reason, in testdata/datasette/differences.txt; a listed case that
// no longer differs fails too, so the list stays honest.

const goldenDir = "../testdata/datasette/"

// goldenAnswer is one recorded answer of Datasette (one line of golden.jsonl).
type goldenAnswer struct {
	Case        string `json:"case"`
	Page        int    `json:"page"`
	Path        string `json:"path"`
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
	BodyBase64  string `json:"body_base64"`
}

func (a goldenAnswer) raw() []byte {
	if a.BodyBase64 != "" {
		b, _ := base64.StdEncoding.DecodeString(a.BodyBase64)
		return b
	}
	return []byte(a.Body)
}

// loadGolden returns Datasette's answers by case, pages in order, the
// cases in the order of cases.txt, and the origin Datasette served at.
func loadGolden(t *testing.T) (map[string][]goldenAnswer, []string, string) {
	t.Helper()
	f, err := os.Open(goldenDir + "golden.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byCase := map[string][]goldenAnswer{}
	var order []string
	var header struct {
		Origin string `json:"origin"`
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for first := true; sc.Scan(); first = false {
		if first { // Datasette's version, SQLite's, the origin it served at
			if err := json.Unmarshal(sc.Bytes(), &header); err != nil || header.Origin == "" {
				t.Fatalf("golden.jsonl: bad header: %s", sc.Bytes())
			}
			continue
		}
		var a goldenAnswer
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("golden.jsonl: %v", err)
		}
		if _, ok := byCase[a.Case]; !ok {
			order = append(order, a.Case)
		}
		byCase[a.Case] = append(byCase[a.Case], a)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return byCase, order, header.Origin
}

// loadDifferences reads differences.txt: "CASE | reason" a line.
func loadDifferences(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(goldenDir + "differences.txt")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c, reason, ok := strings.Cut(line, " | ")
		if !ok || strings.TrimSpace(reason) == "" {
			t.Fatalf("differences.txt:%d: want \"CASE | reason\", got %q", i+1, line)
		}
		if _, dup := out[c]; dup {
			t.Fatalf("differences.txt:%d: %s listed twice", i+1, c)
		}
		out[c] = reason
	}
	return out
}

// seedGolden loads fixtures.sql into the database "fixtures", publishes its
// tables and views, turns public SQL on, and adds one private table that
// Datasette's copy lacks.
func seedGolden(t *testing.T, f *fixture) {
	t.Helper()
	fixtures, err := os.ReadFile(goldenDir + "fixtures.sql")
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{gate.PublicTablesDDL, string(fixtures),
		`CREATE TABLE private_notes (id INTEGER PRIMARY KEY, secret TEXT)`,
		`INSERT INTO private_notes VALUES (1, 'hunter2')`,
		`CREATE TABLE vaults (id INTEGER PRIMARY KEY, name TEXT)`,
		`INSERT INTO vaults VALUES (1, 'Zurich'), (2, 'Geneva')`}
	for _, name := range []string{"ints", "texts", "pairs", "plain", "wr", "adults", "many", "owners", "pets", "docs"} {
		stmts = append(stmts, publish(name))
	}
	f.MustExec("fixtures", append(stmts, publicDB(false, true)...)...)
}

func TestReader_DatasetteGolden(t *testing.T) {
	golden, order, origin := loadGolden(t)
	diffs := loadDifferences(t)
	f := newFixture(t)
	seedGolden(t, f)
	seen := map[string]bool{}
	for _, c := range order {
		seen[c] = true
		got, want := f.goldenCase(c, golden[c], origin)
		reason, listed := diffs[c]
		switch {
		case got != want && !listed:
			t.Errorf("%s: tablecast differs from Datasette (list it in differences.txt with a reason, or fix it)\n got: %s\nwant: %s", c, clip(got), clip(want))
		case got == want && listed:
			t.Errorf("%s: listed in differences.txt (%s) but no longer differs: remove the line", c, reason)
		}
	}
	for c := range diffs {
		if !seen[c] {
			t.Errorf("differences.txt lists %q, which is no case of golden.jsonl", c)
		}
	}
}

// goldenCase asks tablecast one case, following next_url as Datasette's
// pages were followed, and returns both sides normalized, page by page.
// Absolute URLs in bodies (next_url, CSV links to blobs) name either
// server http://origin.
func (f *fixture) goldenCase(c string, pages []goldenAnswer, origin string) (got, want string) {
	var g, w []string
	path := pages[0].Path
	for i := 0; path != "" && i < 50; i++ {
		status, h, body := f.MustFetch(path)
		body = strings.ReplaceAll(body, f.srv.URL, "http://origin")
		n := normalizeAnswer(status, h.Get("Content-Type"), []byte(body), h.Get("Location"))
		g = append(g, n.String())
		if !strings.HasPrefix(c, "follow ") {
			break
		}
		path = pathOf(n.nextURL)
	}
	for _, p := range pages {
		raw := bytes.ReplaceAll(p.raw(), []byte(origin), []byte("http://origin"))
		w = append(w, normalizeAnswer(p.Status, p.ContentType, raw, "").String())
	}
	return strings.Join(g, "\n"), strings.Join(w, "\n")
}

// normalized is the part of an answer that must agree with Datasette's.
type normalized struct {
	Status int    `json:"status"`
	Type   string `json:"type,omitempty"` // media type of a success
	Rows   any    `json:"rows,omitempty"` // JSON rows as objects, values typed
	Next   string `json:"next,omitempty"` // next_url: abs/rel, path, query with _next=*
	Text   string `json:"text,omitempty"` // CSV and other text, exactly
	Blob   string `json:"blob,omitempty"` // base64 of a binary body
	// Facets are a JSON answer's facet_results (facets_golden_test.go):
	// Datasette 0.65's top-level map and 1.0's "results" alike.
	Facets  any `json:"facets,omitempty"`
	nextURL string
}

func (n normalized) String() string {
	b, _ := json.Marshal(n)
	return string(b)
}

// normalizeAnswer keeps what a Datasette client depends on. JSON: the
// rows as objects whichever shape carried them (Datasette 0.65's default
// arrays plus columns, tablecast's objects), each value typed (an integer
// is not a float: 3.0 stays a float), next_url with the host and the
// opaque _next token left out. Errors: the status alone (messages differ).
// Redirects: the status and the target's path.
func normalizeAnswer(status int, ctype string, body []byte, location string) normalized {
	n := normalized{Status: status}
	if status >= 300 && status < 400 {
		if u, err := url.Parse(location); err == nil {
			n.Text = u.RequestURI()
		}
		return n
	}
	if status >= 400 {
		return n
	}
	n.Type, _, _ = mime.ParseMediaType(ctype)
	switch {
	case strings.Contains(n.Type, "json"):
		n.Rows, n.nextURL = jsonRows(body)
		n.Next = normalizeNext(n.nextURL)
		n.Facets = facetsOf(body)
	case strings.HasPrefix(n.Type, "text/"):
		n.Text = string(body)
	default:
		n.Blob = base64.StdEncoding.EncodeToString(body)
	}
	return n
}

// jsonRows returns the rows of a JSON answer (or the whole value when it
// has no rows) and its next_url.
func jsonRows(body []byte) (any, string) {
	var v any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "not JSON: " + err.Error(), ""
	}
	if d.More() { // newline-delimited JSON (_nl=on): one row a line
		rows := []any{v}
		for d.More() {
			var r any
			if err := d.Decode(&r); err != nil {
				return "not JSON: " + err.Error(), ""
			}
			rows = append(rows, r)
		}
		return typed(rows), ""
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return typed(v), ""
	}
	next, _ := obj["next_url"].(string)
	if tables, ok := obj["tables"].([]any); ok && obj["rows"] == nil {
		return databaseNames(tables, obj["views"]), next
	}
	rows, ok := obj["rows"].([]any)
	if !ok {
		return typed(obj), next // _shape=object: rows keyed by primary key
	}
	cols, _ := obj["columns"].([]any)
	for i, r := range rows {
		if arr, ok := r.([]any); ok && len(arr) == len(cols) {
			m := map[string]any{}
			for j, c := range cols {
				m[fmt.Sprint(c)] = arr[j]
			}
			rows[i] = m
		}
	}
	return typed(rows), next
}

// databaseNames is /{db}.json reduced to its sorted table and view names.
func databaseNames(tables []any, views any) []string {
	var names []string
	add := func(list []any) {
		for _, t := range list {
			switch t := t.(type) {
			case map[string]any:
				if h, _ := t["hidden"].(bool); !h {
					names = append(names, fmt.Sprint(t["name"]))
				}
			case string:
				names = append(names, t)
			}
		}
	}
	add(tables)
	if vs, ok := views.([]any); ok {
		add(vs)
	}
	sort.Strings(names)
	return names
}

// typed writes every JSON number as "int N" or "float F" and every string
// as "str S", so that comparing the results compares types too. A blob
// that is valid UTF-8 becomes its text, as Datasette 0.65 sends it.
func typed(v any) any {
	switch v := v.(type) {
	case json.Number:
		s := v.String()
		if !strings.ContainsAny(s, ".eE") {
			return "int " + s
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return "bad number " + s
		}
		return "float " + strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return "str " + v
	case []any:
		out := make([]any, len(v))
		for i := range v {
			out[i] = typed(v[i])
		}
		return out
	case map[string]any:
		if b64, ok := v["encoded"].(string); ok && v["$base64"] == true && len(v) == 2 {
			// A blob: tablecast always sends {"$base64":true,...}
			// (Datasette 1.0's rule); 0.65 sends a blob that is valid
			// UTF-8 as a string. Compared under 0.65's rule.
			if b, err := base64.StdEncoding.DecodeString(b64); err == nil && utf8.Valid(b) {
				return "str " + string(b)
			}
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = typed(x)
		}
		return out
	}
	return v
}

// normalizeNext keeps whether next_url is absolute, its path and its query
// with the _next token (opaque in tablecast, values in Datasette) as "*".
func normalizeNext(next string) string {
	if next == "" {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil {
		return "bad next_url " + next
	}
	kind := "relative "
	if u.IsAbs() {
		kind = "absolute "
	}
	q := u.Query()
	if q.Has("_next") {
		q.Set("_next", "*")
	}
	return kind + u.Path + "?" + q.Encode()
}

// pathOf is the path and query of a next_url, to ask the test server.
func pathOf(next string) string {
	if next == "" {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil {
		return ""
	}
	return u.RequestURI()
}

func clip(s string) string {
	if len(s) > 1500 {
		return s[:1500] + "…"
	}
	return s
}

package rowfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// readAll reads every row of a file as JSON objects (names and values in
// order), types applied to text values.
func readAll(tb testing.TB, data string, f Format, types []Type) ([]string, error) {
	tb.Helper()
	r := NewReader(strings.NewReader(data), "f", f)
	var out []string
	for {
		row, err := r.Next()
		if err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, err
		}
		b := []byte{'{'}
		for i, name := range row.Names {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, name)
			b = append(b, ':')
			typ := TextType
			if i < len(types) {
				typ = types[i]
			}
			var ok bool
			if b, ok = AppendJSON(b, row.Values[i], typ); !ok {
				tb.Fatalf("value %d of record %d does not fit %s", i, row.Record, typ)
			}
		}
		b = append(b, '}')
		if !json.Valid(b) {
			tb.Fatalf("invalid JSON: %s", b)
		}
		out = append(out, string(b))
	}
}

func TestReader_Formats(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Format
		data string
		want []string
	}{
		{"csv text", CSV, "id,name\n1,Cleo\n2,\"Pancakes, \"\"the\"\" dog\"\n", []string{`{"id":"1","name":"Cleo"}`, `{"id":"2","name":"Pancakes, \"the\" dog"}`}},
		{"csv bom crlf", CSV, "\ufeffid,name\r\n1,Cleo\r\n", []string{`{"id":"1","name":"Cleo"}`}},
		{"csv short row is null", CSV, "a,b,c\n1\n", []string{`{"a":"1","b":null,"c":null}`}},
		{"csv multiline field", CSV, "a,b\n\"x\ny\",2\n", []string{`{"a":"x\ny","b":"2"}`}},
		{"csv control chars", CSV, "a\n\"\x01\t\"\n", []string{`{"a":"\u0001\t"}`}},
		{"csv header only", CSV, "a,b\n", nil},
		{"tsv", TSV, "a\tb\n1\tx y\n", []string{`{"a":"1","b":"x y"}`}},
		{"json list", JSON, ` [{"a": 1, "b": [1,2]}, {"b": null, "a": 1.5}] `, []string{`{"a":1,"b":[1,2]}`, `{"b":null,"a":1.5}`}},
		{"json one object", JSON, `{"a": "x"}`, []string{`{"a":"x"}`}},
		{"json empty list", JSON, `[]`, nil},
		{"json empty object", JSON, `[{}]`, []string{`{}`}},
		{"nl", NL, "{\"a\":1}\n\n  {\"a\":2}\r\n{\"a\":3}", []string{`{"a":1}`, `{"a":2}`, `{"a":3}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.data, tc.f, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReader_Errors(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Format
		data string
		want string
	}{
		{"csv empty", CSV, "", "f: empty file"},
		{"csv extra values", CSV, "a,b\n1,2\n3,4,5\n", `f: line 3, column 5 (record 2): 3 values, but the header names 2 columns`},
		{"csv bare quote", CSV, "a,b\n1,2\nx,y\"z\n", `f: line 3, column 4 (record 2): a quote (")`},
		{"csv open quote", CSV, "a,b\n1,\"2\n", `f: line 2, column 6 (record 1): a quoted field is not closed`},
		{"csv bad utf8", CSV, "a,b\n1,\xff\n", `f: line 2, column 3 (record 1, column "b"): not valid UTF-8`},
		{"csv duplicate header", CSV, "a,A\n", `f: line 1, column 3 (column "A"): header: column name given twice`},
		{"csv empty header", CSV, "a,,c\n", `f: line 1, column 3: header: column 2 has no name`},
		{"json not a list", JSON, `"x"`, "f: line 1, column 1: a JSON file must hold a list of objects"},
		{"json record not object", JSON, "[\n {\"a\":1},\n 7]", "f: line 3, column 2 (record 2): a record must be a JSON object, not a number"},
		{"json syntax", JSON, "[\n{\"a\":1},\n{\"a\" 2}]", "f: line 3, column 4 (record 2): invalid JSON"},
		{"json unclosed", JSON, "[{\"a\":1}", "f: line 1, column 9 (record 1): the JSON ends too early"},
		{"json duplicate key", JSON, "[{\"a\":1,\n \"a\":2}]", `f: line 2, column 2 (record 1, column "a"): key given twice`},
		{"json duplicate key in a large object", JSON, `[{"a":1},{` + bigObject(20) + `,"k3":0}]`, `f: line 1, column 171 (record 2, column "k3"): key given twice`},
		{"json trailing data", JSON, "[{\"a\":1}] x", "f: line 1, column 11 (record 1): unexpected data after the closing ]"},
		{"nl syntax", NL, "{\"a\":1}\n\n{\"a\":}\n", "f: line 3, column 6 (record 2): invalid JSON"},
		{"nl not object", NL, "{\"a\":1}\n [1]\n", "f: line 2, column 2 (record 2): a record must be a JSON object, not a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(t, tc.data, tc.f, nil)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want an *Error", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %q, want it to start with %q", err, tc.want)
			}
		})
	}
}

func TestReader_Positions(t *testing.T) {
	r := NewReader(strings.NewReader("[\n  {\"a\": 1,\n   \"b\": \"x\"},\n  {\"a\": 2}\n]"), "f", JSON)
	var got []Pos
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		got = append(got, row.Pos...)
	}
	want := []Pos{{2, 9}, {3, 9}, {4, 9}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestTracker_Types(t *testing.T) {
	// The answers of sqlite-utils 3.30 `insert --csv --detect-types`, but
	// for column s ("1_000": Python's float() takes it; here it is text).
	data := "id,n,f,t,e,s,neg\n1,12,1.5,x,,1_000,-3\n2, 13 ,2,y,, 5,+4\n3,,1e3,z,,1e3,0\n"
	r := NewReader(strings.NewReader(data), "f", CSV)
	var tr Tracker
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		tr.Observe(row)
	}
	got := tr.Types()
	want := []Type{Integer, Integer, Float, TextType, Integer, TextType, Integer}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	rows, err := readAll(t, data, CSV, got)
	if err != nil {
		t.Fatal(err)
	}
	wantRows := []string{
		`{"id":1,"n":12,"f":1.5,"t":"x","e":null,"s":"1_000","neg":-3}`,
		`{"id":2,"n":13,"f":2.0,"t":"y","e":null,"s":" 5","neg":4}`,
		`{"id":3,"n":null,"f":1000.0,"t":"z","e":null,"s":"1e3","neg":0}`,
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Fatalf("got %q, want %q", rows, wantRows)
	}
}

func TestTracker_Edges(t *testing.T) {
	for _, tc := range []struct {
		s          string
		int, float bool
	}{
		{"0", true, true}, {"-0", true, true}, {"9223372036854775807", true, true},
		{"9223372036854775808", false, true}, {"1.", false, true}, {".5", false, true},
		{"1e400", false, false}, {"inf", false, false}, {"nan", false, false},
		{"0x10", false, false}, {"1_0", false, false}, {"  ", false, false}, {"+", false, false},
	} {
		if got := isInteger(tc.s); got != tc.int {
			t.Errorf("isInteger(%q) = %v, want %v", tc.s, got, tc.int)
		}
		if got := isFloat(tc.s); got != tc.float {
			t.Errorf("isFloat(%q) = %v, want %v", tc.s, got, tc.float)
		}
	}
}

func TestFormatOf(t *testing.T) {
	for name, want := range map[string]Format{"a.CSV": CSV, "b.tsv": TSV, "c.json": JSON, "d.ndjson": NL, "e.jsonl": NL} {
		if got, ok := FormatOf(name); !ok || got != want {
			t.Errorf("FormatOf(%q) = %v, %v; want %v", name, got, ok, want)
		}
	}
	if _, ok := FormatOf("data.txt"); ok {
		t.Error("FormatOf(data.txt) tells a format")
	}
}

// genReader produces n rows of a format without holding them.
type genReader struct {
	f    Format
	n, i int
	buf  []byte
}

func (g *genReader) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		switch {
		case g.i > g.n+1:
			return 0, io.EOF
		case g.i == 0 && g.f == CSV:
			g.buf = []byte("id,name,score\n")
		case g.i == 0 && g.f == JSON:
			g.buf = []byte("[\n")
		case g.i == g.n+1 && g.f == JSON:
			g.buf = []byte("{\"id\":0}]\n")
		case g.i == g.n+1:
		case g.f == CSV:
			g.buf = fmt.Appendf(nil, "%d,\"name %d\",%d.5\n", g.i, g.i, g.i)
		default:
			g.buf = fmt.Appendf(nil, "{\"id\":%d,\"name\":\"name %d\",\"score\":%d.5},\n", g.i, g.i, g.i)
		}
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// The reader streams: reading 60 MB of CSV or 20 MB of JSON rows, the
// live heap stays under 8 MB (it is ~200 KB).
func TestReader_ConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 100 MB")
	}
	for f, n := range map[Format]int{CSV: 2_000_000, JSON: 400_000} {
		t.Run(f.String(), func(t *testing.T) {
			r := NewReader(&genReader{f: f, n: n}, "gen", f)
			var peak uint64
			var ms runtime.MemStats
			for i := 0; ; i++ {
				_, err := r.Next()
				if err == io.EOF {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				if i%100_000 == 0 {
					runtime.GC()
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
				}
			}
			if r.BytesRead() < 15<<20 {
				t.Fatalf("read only %d bytes", r.BytesRead())
			}
			if peak > 8<<20 {
				t.Fatalf("live heap reached %d bytes reading %d bytes", peak, r.BytesRead())
			}
			t.Logf("%s: %d MB read, live heap at most %d KB", f, r.BytesRead()>>20, peak>>10)
		})
	}
}

// bigObject is n members "k0": 0, … without braces.
func bigObject(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"k%d":%d`, i, i)
	}
	return strings.Join(parts, ",")
}

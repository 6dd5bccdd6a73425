package rowfile

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzReader: any input, in any format, gives rows whose values encode as
// valid JSON (with the types detected over the whole file), or an *Error
// that names a place; never a panic.
func FuzzReader(f *testing.F) {
	for _, seed := range []string{
		"id,name\n1,Cleo\n", "a,b\n\"x\ny\",2\n3,4,5\n", "a\tb\n1\t2\n", "\ufeffa\n\"\x01\"\n",
		`[{"a":1,"b":[1,2]},{"a":"x"}]`, `{"a":null}`, "{\"a\":1}\n\n{\"b\":2.5}\n", "[\n{\"a\" 2}]", "a,b\n1_0, 2 \n,1e3\n",
	} {
		for fm := CSV; fm <= NL; fm++ {
			f.Add(seed, uint8(fm))
		}
	}
	f.Fuzz(func(t *testing.T, data string, fm uint8) {
		format := Format(fm%4 + 1)
		var tr Tracker
		n := 0
		if err := each(data, format, func(row *Row) {
			n++
			if len(row.Names) != len(row.Values) || row.Record != n || row.Line < 1 {
				t.Fatalf("row %d: %d names, %d values, line %d", row.Record, len(row.Names), len(row.Values), row.Line)
			}
			tr.Observe(row)
		}); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if e.File != "f" || e.Msg == "" {
				t.Fatalf("error without a place or a message: %#v", e)
			}
			return
		}
		types := tr.Types()
		if err := each(data, format, func(row *Row) {
			for i, v := range row.Values {
				typ := TextType
				if i < len(types) {
					typ = types[i]
				}
				b, ok := AppendJSON(nil, v, typ)
				if !ok {
					t.Fatalf("record %d value %d (%q) does not fit its detected type %s", row.Record, i, v.Text, typ)
				}
				if !json.Valid(b) {
					t.Fatalf("record %d value %d: invalid JSON %q", row.Record, i, b)
				}
			}
		}); err != nil {
			t.Fatalf("second read: %v", err)
		}
	})
}

func each(data string, f Format, fn func(*Row)) error {
	r := NewReader(strings.NewReader(data), "f", f)
	for {
		row, err := r.Next()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		fn(row)
	}
}

package primary

import (
	"reflect"
	"strings"
	"testing"
)

func TestAffinityOf(t *testing.T) {
	for decl, want := range map[string]affinity{
		"INTEGER":           affInteger,
		"bigint":            affInteger,
		"POINT":             affInteger, // contains INT, as SQLite says
		"TEXT":              affText,
		"varchar(20)":       affText,
		"CLOB":              affText,
		"BLOB":              affBlob,
		"":                  affBlob,
		"REAL":              affReal,
		"FLOAT":             affReal,
		"double precision":  affReal,
		"NUMERIC":           affNumeric,
		"DECIMAL(10,5)":     affNumeric,
		"BOOLEAN":           affNumeric,
		"DATETIME":          affNumeric,
		"CHARINT":           affInteger, // INT wins over CHAR
		"FLOATING POINT":    affInteger, // "POINT" has INT
		"STRING":            affNumeric,
		"ANY":               affNumeric,
		"text with a space": affText,
	} {
		if got := affinityOf(decl); got != want {
			t.Errorf("affinityOf(%q) = %s, want %s", decl, got, want)
		}
	}
}

func TestConvert(t *testing.T) {
	parse := func(s string) value {
		t.Helper()
		v, err := parseValue([]byte(s))
		if err != nil {
			t.Fatalf("parse %s: %s", s, err)
		}
		return v
	}
	for _, tt := range []struct {
		aff  affinity
		json string
		want any
		err  string
	}{
		{affInteger, `5`, int64(5), ""},
		{affInteger, `-9223372036854775808`, int64(-9223372036854775808), ""},
		{affInteger, `true`, int64(1), ""},
		{affInteger, `null`, nil, ""},
		{affInteger, `5.0`, nil, "expects integer, got float"},
		{affInteger, `"5"`, nil, "expects integer, got string"},
		{affInteger, `9223372036854775808`, nil, "got integer out of 64-bit range"},
		{affReal, `1.5`, 1.5, ""},
		{affReal, `2`, 2.0, ""},
		{affReal, `1e308`, 1e308, ""},
		{affReal, `true`, nil, "expects float, got boolean"},
		{affReal, `"x"`, nil, "expects float, got string"},
		{affText, `"héllo"`, "héllo", ""},
		{affText, `{"a": [1, 2]}`, `{"a":[1,2]}`, ""},
		{affText, `[1, "x"]`, `[1,"x"]`, ""},
		{affText, `1`, nil, "expects text, got integer"},
		{affText, `false`, nil, "expects text, got boolean"},
		{affBlob, `{"$base64": true, "encoded": "AAEC"}`, []byte{0, 1, 2}, ""},
		{affBlob, `{"encoded": "", "$base64": true}`, []byte{}, ""},
		{affBlob, `"raw"`, "raw", ""},
		{affBlob, `3`, int64(3), ""},
		{affBlob, `3.5`, 3.5, ""},
		{affBlob, `{"$base64": true, "encoded": "!!"}`, nil, "invalid base64"},
		{affBlob, `{"$base64": false, "encoded": "AA=="}`, nil, `expects {"$base64"`},
		{affBlob, `{"$base64": true}`, nil, `expects {"$base64"`},
		{affBlob, `{"$base64": true, "encoded": null}`, nil, `expects {"$base64"`},
		{affBlob, `{"a": 1}`, nil, "expects blob, got object"},
		{affBlob, `[1]`, nil, "expects blob, got array"},
		{affNumeric, `1`, int64(1), ""},
		{affNumeric, `1.25`, 1.25, ""},
		{affNumeric, `false`, int64(0), ""},
		{affNumeric, `"2024-01-01"`, "2024-01-01", ""},
		{affNumeric, `{"a": 1}`, nil, "expects numeric, got object"},
	} {
		t.Run(tt.aff.String()+"/"+tt.json, func(t *testing.T) {
			got, err := convert(tt.aff, parse(tt.json))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("got %#v, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, %v; want %#v", got, err, tt.want)
			}
		})
	}
}

func TestParseValue(t *testing.T) {
	t.Run("HugeFloat", func(t *testing.T) {
		if _, err := parseValue([]byte(`1e400`)); err == nil {
			t.Errorf("want an error for a number out of float64 range")
		}
	})
	t.Run("NegativeZero", func(t *testing.T) {
		v, err := parseValue([]byte(`-0`))
		if err != nil || v.kind != kindInteger || v.i != 0 {
			t.Errorf("got %+v, %v; want integer 0", v, err)
		}
	})
}

func TestInferColumns(t *testing.T) {
	p, err := decodeBody([]byte(`{"rows": [
		{"id": 1, "name": null, "score": 1, "tags": ["a"], "ok": true},
		{"id": 2, "name": "b", "score": 2.5, "extra": {"k": 1}, "blank": null}
	]}`), "rows")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := p.rows(10)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := inferColumns(rows)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cols {
		got = append(got, c.name+":"+c.decl)
	}
	want := []string{"id:INTEGER", "name:TEXT", "score:FLOAT", "tags:TEXT", "ok:INTEGER", "extra:TEXT", "blank:TEXT"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestCreateTableSQL(t *testing.T) {
	cols := []column{newColumn("id", typeInteger), newColumn("name", typeText)}
	cols[0].pk = 1
	got := createTableSQL("t", cols, []string{"id"})
	want := "CREATE TABLE \"t\" (\n   \"id\" INTEGER PRIMARY KEY,\n   \"name\" TEXT\n)"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	cols[0].pk, cols[1].pk = 1, 2
	got = createTableSQL("t", cols, []string{"id", "name"})
	want = "CREATE TABLE \"t\" (\n   \"id\" INTEGER NOT NULL,\n   \"name\" TEXT NOT NULL,\n   PRIMARY KEY (\"id\", \"name\")\n)"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

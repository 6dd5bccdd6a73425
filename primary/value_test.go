package primary

import (
	"database/sql"
	"net/http/httptest"
	"testing"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/internal/valuetest"
)

// TestWriteJSON_Values: the write path renders every SQLite value in its
// response as the one encoder does (the read path's TestRender_Values
// checks the same cases).
func TestWriteJSON_Values(t *testing.T) {
	for _, c := range valuetest.Cases {
		t.Run(c.Name, func(t *testing.T) {
			row := orderedRow{cols: []string{"v"}, vals: []any{jsonValue(c.V)}}
			rec := httptest.NewRecorder()
			tablecast.WriteJSON(rec, 200, map[string]any{"rows": []orderedRow{row}})
			if got, want := rec.Body.String(), `{"rows":[{"v":`+c.JSON+`}]}`+"\n"; got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
}

// TestScanRows_Infinity reads ±Inf back from SQLite (as RETURNING does):
// null, as Datasette and the read path render it.
func TestScanRows_Infinity(t *testing.T) {
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT 1e999 AS a, -1e999 AS b, 1.5 AS c`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := scanRows(rows)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	tablecast.WriteJSON(rec, 200, out)
	if got, want := rec.Body.String(), `[{"a":null,"b":null,"c":1.5}]`+"\n"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

package replica

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/internal/valuetest"
	"github.com/tablecast/tablecast/replica/gate"
)

// TestRender_Values: the read path renders every SQLite value as the one
// encoder does (the write path's TestWriteJSON_Values checks the same
// cases), in each JSON shape.
func TestRender_Values(t *testing.T) {
	for _, c := range valuetest.Cases {
		t.Run(c.Name, func(t *testing.T) {
			vals := []any{c.V}
			shapes := []struct{ name, got, want string }{
				{"Objects", string(encodeJSON(map[string]any{"rows": []object{rowObject([]string{"v"}, vals)}})), `{"rows":[{"v":` + c.JSON + `}]}` + "\n"},
				{"Arrays", string(encodeJSON(map[string]any{"rows": [][]any{rowArray(vals)}})), `{"rows":[[` + c.JSON + `]]}` + "\n"},
				{"NDJSON", string(encodeNDJSON([]string{"v"}, [][]any{vals})), `{"v":` + c.JSON + `}` + "\n"},
			}
			for _, s := range shapes {
				if s.got != s.want {
					t.Errorf("%s: got %s, want %s", s.name, s.got, s.want)
				}
			}
		})
	}
}

// TestReader_Infinity reads ±Inf stored in SQLite through a table page:
// null, as Datasette and the write path render it.
func TestReader_Infinity(t *testing.T) {
	f := newFixture(t)
	f.MustExec("demo", gate.PublicTablesDDL,
		`CREATE TABLE nums (id INTEGER PRIMARY KEY, x REAL)`,
		`INSERT INTO nums VALUES (1, 1e999), (2, -1e999), (3, 1.5)`,
		publish("nums"))
	for path, want := range map[string]string{
		"/demo/nums.json?_shape=array": `[{"id":1,"x":null},{"id":2,"x":null},{"id":3,"x":1.5}]`,
		"/demo/nums/2.json":            `{"database":"demo","ok":true,"primary_key_values":["2"],"primary_keys":["id"],"rows":[{"id":2,"x":null}],"table":"nums"}`,
	} {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || strings.TrimSpace(string(raw)) != want {
			t.Errorf("GET %s: got %d %s, want 200 %s", path, resp.StatusCode, raw, want)
		}
	}
}

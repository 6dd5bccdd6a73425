package primary

import (
	"net/http"
	"testing"
)

func TestWriter_PublishDatabase(t *testing.T) {
	e := newZooEnv(t)
	switches := func() string {
		return e.queryString("zoo", `SELECT all_tables, allow_sql, updated_by FROM _public_database`)
	}
	for _, tc := range []struct {
		path, body string
		want       string
	}{
		{"/zoo/-/publish", ``, "1|0|alice"},
		{"/zoo/-/publish", `{"sql": true}`, "1|1|alice"},
		{"/zoo/-/publish", `{"all_tables": false, "sql": true}`, "0|1|alice"},
		{"/zoo/-/unpublish", ``, "0|0|alice"},
	} {
		m := e.mustPost(tc.path, tc.body, http.StatusOK)
		if m["txid"] == nil || m["database"] != "zoo" {
			t.Fatalf("%s %s: %v", tc.path, tc.body, m)
		}
		if got := switches(); got != tc.want {
			t.Fatalf("%s %s: switches %q, want %q", tc.path, tc.body, got, tc.want)
		}
	}
	if got := e.queryString("zoo", `SELECT count(*) FROM _public_audit WHERE table_name = '*'`); got != "4" {
		t.Fatalf("audit rows %q, want 4", got)
	}
	for _, c := range []badCase{
		{path: "/zoo/-/publish", body: `{"sql": "yes"}`, status: http.StatusBadRequest, msg: "Invalid JSON body"},
		{path: "/zoo/-/publish", body: `{"everything": true}`, status: http.StatusBadRequest, msg: "unknown field"},
		{path: "/nosuch/-/publish", body: ``, status: http.StatusNotFound, msg: "Database not found"},
	} {
		e.checkBad(t, "zoo", c)
	}
}

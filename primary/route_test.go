package primary

import (
	"net/url"
	"reflect"
	"testing"
)

func TestParseRoute(t *testing.T) {
	for _, tt := range []struct {
		path string
		want route
		ok   bool
	}{
		{"/db/-/create", route{action: actionCreate, db: "db"}, true},
		{"/db/t/-/insert", route{action: actionInsert, db: "db", table: "t"}, true},
		{"/db/t/-/upsert", route{action: actionUpsert, db: "db", table: "t"}, true},
		{"/db/t/-/publish", route{action: actionPublish, db: "db", table: "t"}, true},
		{"/db/t/-/unpublish", route{action: actionUnpublish, db: "db", table: "t"}, true},
		{"/db/t/7/-/delete", route{action: actionDelete, db: "db", table: "t", pk: []string{"7"}}, true},
		{"/db/t/a,b/-/delete", route{action: actionDelete, db: "db", table: "t", pk: []string{"a", "b"}}, true},
		{"/db/t/a%2Cb,c%2Fd/-/delete", route{action: actionDelete, db: "db", table: "t", pk: []string{"a,b", "c/d"}}, true},
		{"/db/a%2Fb/-/insert", route{action: actionInsert, db: "db", table: "a/b"}, true},
		{"/db/t%20x/-/insert", route{action: actionInsert, db: "db", table: "t x"}, true},
		{"/db/t/-/drop", route{}, false},
		{"/db/t/-/insert/", route{}, false},
		{"/db/t/insert", route{}, false},
		{"/db/-/insert", route{}, false},
		{"/db/t/-/create", route{}, false},
		{"/db", route{}, false},
		{"/", route{}, false},
		{"/db/t/1/2/-/delete", route{}, false},
	} {
		t.Run(tt.path, func(t *testing.T) {
			u, err := url.Parse(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := parseRoute(u)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestRoute_Validate(t *testing.T) {
	for _, tt := range []struct {
		name string
		rt   route
		ok   bool
	}{
		{"OK", route{action: actionInsert, db: "db", table: "t"}, true},
		{"CreateNoTable", route{action: actionCreate, db: "db-1"}, true},
		{"BadDB", route{action: actionInsert, db: "../x", table: "t"}, false},
		{"EmptyDB", route{action: actionCreate, db: ""}, false},
		{"ReservedTable", route{action: actionPublish, db: "db", table: "_public_tables"}, false},
		{"SQLiteTable", route{action: actionPublish, db: "db", table: "sqlite_master"}, false},
		{"SlashInTable", route{action: actionInsert, db: "db", table: "a/b"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.rt.validate(); (err == nil) != tt.ok {
				t.Errorf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

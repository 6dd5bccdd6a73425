package primary

import (
	"net/url"
	"reflect"
	"testing"

	"github.com/tablecast/tablecast"
)

func TestParseRoute(t *testing.T) {
	for _, tt := range []struct {
		path string
		want route
		ok   bool
	}{
		{"/db/-/create", route{action: tablecast.ActionCreate, db: "db"}, true},
		{"/db/t/-/insert", route{action: tablecast.ActionInsert, db: "db", table: "t"}, true},
		{"/db/t/-/upsert", route{action: tablecast.ActionUpsert, db: "db", table: "t"}, true},
		{"/db/t/-/publish", route{action: tablecast.ActionPublish, db: "db", table: "t"}, true},
		{"/db/t/-/unpublish", route{action: tablecast.ActionUnpublish, db: "db", table: "t"}, true},
		{"/db/t/7/-/delete", route{action: tablecast.ActionDelete, db: "db", table: "t", pk: []string{"7"}}, true},
		{"/db/t/a,b/-/delete", route{action: tablecast.ActionDelete, db: "db", table: "t", pk: []string{"a", "b"}}, true},
		{"/db/t/a%2Cb,c%2Fd/-/delete", route{action: tablecast.ActionDelete, db: "db", table: "t", pk: []string{"a,b", "c/d"}}, true},
		{"/db/a%2Fb/-/insert", route{action: tablecast.ActionInsert, db: "db", table: "a/b"}, true},
		{"/db/t%20x/-/insert", route{action: tablecast.ActionInsert, db: "db", table: "t x"}, true},
		{"/db/t/-/drop", route{action: tablecast.ActionDrop, db: "db", table: "t"}, true},
		{"/db/t/a,b/-/update", route{action: tablecast.ActionUpdate, db: "db", table: "t", pk: []string{"a", "b"}}, true},
		{"/db/t/a~2Cb/-/update", route{action: tablecast.ActionUpdate, db: "db", table: "t", pk: []string{"a,b"}}, true},
		{"/db/t/-/alter", route{}, false},
		{"/db/t/1/-/drop", route{}, false},
		{"/db/t/-/update", route{}, false},
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
		{"OK", route{action: tablecast.ActionInsert, db: "db", table: "t"}, true},
		{"CreateNoTable", route{action: tablecast.ActionCreate, db: "db-1"}, true},
		{"BadDB", route{action: tablecast.ActionInsert, db: "../x", table: "t"}, false},
		{"EmptyDB", route{action: tablecast.ActionCreate, db: ""}, false},
		{"ReservedTable", route{action: tablecast.ActionPublish, db: "db", table: "_public_tables"}, false},
		{"SQLiteTable", route{action: tablecast.ActionPublish, db: "db", table: "sqlite_master"}, false},
		{"SlashInTable", route{action: tablecast.ActionInsert, db: "db", table: "a/b"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.rt.validate(); (err == nil) != tt.ok {
				t.Errorf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

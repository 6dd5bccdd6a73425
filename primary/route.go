package primary

import (
	"net/url"

	"github.com/tablecast/tablecast"
)

// Write actions, the last segment of each write path (the URL grammar's).
const (
	actionCreate    = tablecast.ActionCreate
	actionInsert    = tablecast.ActionInsert
	actionUpsert    = tablecast.ActionUpsert
	actionDelete    = tablecast.ActionDelete
	actionPublish   = tablecast.ActionPublish
	actionUnpublish = tablecast.ActionUnpublish
)

// route is a write route of the URL grammar (tablecast.ParseRoute):
//
//	/{db}/-/create
//	/{db}/-/publish|unpublish               the whole database
//	/{db}/{table}/-/insert|upsert|publish|unpublish
//	/{db}/{table}/{pk}/-/delete
type route struct {
	action string
	db     string
	table  string
	pk     []string // delete only: the primary key values, in key order
}

// parseRoute matches a request path against the write routes.
func parseRoute(u *url.URL) (route, bool) {
	g, err := tablecast.ParseRoute(u.EscapedPath())
	if err != nil || g.Kind != tablecast.KindWrite {
		return route{}, false
	}
	rt := route{action: g.Action, db: g.DB, table: g.Table}
	if g.Action == actionDelete {
		if rt.pk, err = g.PK(); err != nil {
			return route{}, false
		}
	}
	return rt, true
}

// scope is the token scope the route needs.
func (rt route) scope() string {
	if rt.action == actionPublish || rt.action == actionUnpublish {
		return ScopePublish
	}
	return ScopeWrite
}

// validate checks the database and table names of the route.
func (rt route) validate() error {
	if err := tablecast.ValidateDBName(rt.db); err != nil {
		return err
	}
	if rt.action == actionCreate || rt.table == "" {
		return nil
	}
	return tablecast.ValidateTableName(rt.table)
}

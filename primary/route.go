package primary

import (
	"net/url"

	"github.com/tablecast/tablecast"
)

// route is a write route of the URL grammar (tablecast.ParseRoute):
//
//	/{db}/-/create
//	/{db}/-/publish|unpublish               the whole database
//	/{db}/{table}/-/insert|upsert|publish|unpublish
//	/{db}/{table}/-/drop
//	/{db}/{table}/{pk}/-/delete|update
type route struct {
	action string
	db     string
	table  string
	pk     []string // delete and update: the primary key values, in key order
}

// parseRoute matches a request path against the write routes.
func parseRoute(u *url.URL) (route, bool) {
	g, err := tablecast.ParseRoute(u.EscapedPath())
	if err != nil || g.Kind != tablecast.KindWrite {
		return route{}, false
	}
	rt := route{action: g.Action, db: g.DB, table: g.Table}
	if g.Key != "" {
		if rt.pk, err = g.PK(); err != nil {
			return route{}, false
		}
	}
	return rt, true
}

// scope is the token scope the route needs.
func (rt route) scope() string {
	switch rt.action {
	case tablecast.ActionPublish, tablecast.ActionUnpublish:
		return ScopePublish
	case tablecast.ActionDrop:
		return ScopeSchema
	}
	return ScopeWrite
}

// validate checks the database and table names of the route.
func (rt route) validate() error {
	if err := tablecast.ValidateDBName(rt.db); err != nil {
		return err
	}
	if rt.action == tablecast.ActionCreate || rt.table == "" {
		return nil
	}
	return tablecast.ValidateTableName(rt.table)
}

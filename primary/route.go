package primary

import (
	"net/url"

	"github.com/tablecast/tablecast"
)

// route is a write route of the URL grammar (tablecast.ParseRoute):
//
//	/{db}/-/create
//	/{db}/-/publish|unpublish               the whole database
//	/{db}/-/define-query|drop-query|publish-query|unpublish-query|metadata
//	/{db}/-/import                          a whole SQLite file (import.go)
//	/{db}/{table}/-/insert|upsert|publish|unpublish
//	/{db}/{table}/-/drop
//	/{db}/{table}/{pk}/-/delete|update
//	/{db}/-/create-view|drop-index|execute   schema (ddl.go, execute.go)
//	/{db}/{table}/-/create-index|enable-fts|disable-fts
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
	if g.Action == tablecast.ActionDelete || g.Action == tablecast.ActionUpdate {
		if rt.pk, err = g.PK(); err != nil {
			return route{}, false
		}
	}
	return rt, true
}

// scope is the token scope the route needs.
func (rt route) scope() string {
	switch rt.action {
	case tablecast.ActionImport:
		return ScopeAdmin
	case tablecast.ActionPublish, tablecast.ActionUnpublish,
		tablecast.ActionPublishQuery, tablecast.ActionUnpublishQuery, tablecast.ActionMetadata:
		return ScopePublish
	case tablecast.ActionDefineQuery, tablecast.ActionDropQuery, tablecast.ActionDrop,
		tablecast.ActionCreateView, tablecast.ActionCreateIndex, tablecast.ActionDropIndex,
		tablecast.ActionEnableFTS, tablecast.ActionDisableFTS, tablecast.ActionExecute:
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

// shrinks reports whether the route removes data or publicity: allowed
// down to the free-space reserve (SpaceFloor.Check), so that an owner can
// always make something private again.
func (rt route) shrinks() bool {
	switch rt.action {
	case tablecast.ActionDelete, tablecast.ActionUnpublish, tablecast.ActionUnpublishQuery, tablecast.ActionDropQuery, tablecast.ActionDrop:
		return true
	}
	return false
}

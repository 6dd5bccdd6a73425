package primary

import (
	"net/url"
	"strings"

	"github.com/tablecast/tablecast"
)

// Write actions, the last segment of each write path.
const (
	actionCreate    = "create"
	actionInsert    = "insert"
	actionUpsert    = "upsert"
	actionDelete    = "delete"
	actionPublish   = "publish"
	actionUnpublish = "unpublish"
)

// route is a parsed write path:
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

// parseRoute matches a request path against the write routes. Segments are
// split on the escaped path so that "%2F" stays inside its segment; the pk
// segment is split on ',' before unescaping, so "%2C" stays inside a value.
func parseRoute(u *url.URL) (route, bool) {
	p, ok := strings.CutPrefix(u.EscapedPath(), "/")
	if !ok {
		return route{}, false
	}
	raw := strings.Split(p, "/")
	seg := make([]string, len(raw))
	for i, s := range raw {
		v, err := url.PathUnescape(s)
		if err != nil {
			return route{}, false
		}
		seg[i] = v
	}
	switch {
	case len(seg) == 3 && seg[1] == "-" && seg[2] == actionCreate:
		return route{action: actionCreate, db: seg[0]}, true
	case len(seg) == 3 && seg[1] == "-" && (seg[2] == actionPublish || seg[2] == actionUnpublish):
		return route{action: seg[2], db: seg[0]}, true
	case len(seg) == 4 && seg[2] == "-" && isTableAction(seg[3]):
		return route{action: seg[3], db: seg[0], table: seg[1]}, true
	case len(seg) == 5 && seg[3] == "-" && seg[4] == actionDelete:
		pk, ok := splitPK(raw[2])
		return route{action: actionDelete, db: seg[0], table: seg[1], pk: pk}, ok
	}
	return route{}, false
}

func isTableAction(s string) bool {
	switch s {
	case actionInsert, actionUpsert, actionPublish, actionUnpublish:
		return true
	}
	return false
}

// scope is the token scope the route needs.
func (rt route) scope() string {
	if rt.action == actionPublish || rt.action == actionUnpublish {
		return ScopePublish
	}
	return ScopeWrite
}

// splitPK splits an escaped pk segment into its unescaped values.
func splitPK(escaped string) ([]string, bool) {
	parts := strings.Split(escaped, ",")
	for i, s := range parts {
		v, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		parts[i] = v
	}
	return parts, true
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

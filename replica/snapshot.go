package replica

import (
	"strconv"

	"github.com/tablecast/tablecast/replica/gate"
)

// snapshot is the gate's snapshot of one database at one TXID
// (gate.Snapshot): every public/private decision of a read asks it.
type snapshot = gate.Snapshot

// table is one public table or view of a snapshot.
type table = gate.Table

// routeHidden is the answer of a route whose database or table a visitor may
// not see at s (the same error as a missing one), nil when it may.
// Public SQL on a database a visitor sees with SQL off is CheckSQL's 403.
func routeHidden(s *snapshot, rt route) error {
	switch rt.kind {
	case routeDB, routeQuery:
		if !s.DatabaseVisible() {
			return gate.NotFound(rt.db, "")
		}
	case routeTable, routeRow:
		// A canned query the visitor may run is served at a table's URL.
		if !s.Visible(rt.table) && !(rt.kind == routeTable && s.QueryVisible(rt.table)) {
			return gate.NotFound(rt.db, rt.table)
		}
	}
	return nil
}

// cacheKey names the data a response on route was rendered from. Table and
// row answers depend on one table (its rows, its shape and whether it is
// public): they key on its version, the offset, SQLite's schema version
// and the database-wide switches, and so survive writes to other tables
// (but not schema changes). Database and query answers, public views,
// pages with _where, searches, facets, labels and canned queries key on
// the TXID.
func cacheKey(s *snapshot, rt route) string {
	var buf [192]byte
	return string(appendCacheKey(s, buf[:0], rt))
}

// appendCacheKey appends cacheKey(s, rt) to dst: a hit looks up a key
// built on the stack, with no allocation.
func appendCacheKey(s *snapshot, dst []byte, rt route) []byte {
	if readsOtherTables(s, &rt) {
		dst = append(append(append(dst, "D\x00"...), rt.canonical...), 0)
		return rt.appendBase(strconv.AppendUint(dst, uint64(s.TXID), 10))
	}
	dst = append(append(append(append(append(dst, "T\x00"...), rt.db...), 0), rt.table...), 0)
	dst = append(strconv.AppendInt(dst, s.Versions[rt.table], 10), 0)
	dst = append(strconv.AppendInt(dst, s.Offset, 10), 0)
	dst = append(strconv.AppendInt(dst, s.SchemaVersion, 10), 0)
	return rt.appendBase(append(append(dst, switches(s)...), rt.canonical...))
}

// readsOtherTables reports whether rt's answer may read other tables than
// its own, and so is keyed on the database's TXID, not the table's
// version: a database page, public SQL, a view, and a table page that is
// a canned query or reads more (a _where subquery, a search's index,
// foreign key labels, on HTML pages by default, and facets). Cheap: no
// allocation, a few map lookups.
func readsOtherTables(s *snapshot, rt *route) bool {
	switch {
	case rt.kind == routeDB || rt.kind == routeQuery:
		return true
	case rt.kind != routeTable && rt.kind != routeRow:
		return false
	}
	if t, ok := s.Table(rt.table); ok && t.View {
		return true
	}
	switch {
	case rt.kind != routeTable:
		return false
	case rt.format == formatHTML || s.QueryVisible(rt.table):
		return true
	case len(rt.query) == 0:
		return false
	}
	for _, name := range [...]string{"_where", "_labels", "_label", "_facet", "_facet_array", "_facet_date"} {
		if _, ok := rt.query[name]; ok {
			return true
		}
	}
	return hasSearchParam(rt.query) || rt.query["_extra"] != nil && hasExtra(rt.query, "expandable_columns")
}

// switches writes the database-wide switches for cache keys.
func switches(s *snapshot) string {
	return [...]string{"00\x00", "01\x00", "10\x00", "11\x00"}[b2i(s.AllTables)<<1|b2i(s.AllowSQL)]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

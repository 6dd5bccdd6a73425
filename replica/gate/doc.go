// Package gate decides what an anonymous visitor may read. It is the one
// place of the rule; primary writes the gate's tables only through it, and
// replica asks it before every read.
//
// The rule, per database, at the TXID being served (Snapshot, loaded in
// the read transaction that serves the rows):
//
//   - A table or view is public when its exact name is listed in
//     _public_tables, or when _public_database's all_tables is 1. Names
//     starting with "_" or "sqlite_" (tablecast's and SQLite's tables) are
//     never public, listed or not.
//   - A database is visible when it has a public table or view, or public
//     SQL (_public_database's allow_sql is 1).
//   - Anything not public answers exactly as a missing thing would
//     (NotFound): same status, same bytes, no TXID or ETag.
//   - Public SQL runs only where allow_sql is 1, reads public tables and
//     views only (a view over a private table is refused), and is confined
//     by construction (sqlcheck.go, sandbox.go): SQLite parses exactly one
//     statement, first against a shadow schema of the public tables only
//     (so a private name errs as a missing one), then its program (EXPLAIN)
//     may open only public root pages and allowed functions; an authorizer
//     is the second wall.
//   - A read token sees every table but tablecast's and SQLite's
//     (PrivateView); nothing built for it is shared with anonymous reads.
//
// The storage contract (contract.go) is the DDL of _public_tables,
// _public_audit, _table_versions and _public_database, and the only
// functions that write them: Publish, Unpublish, SetDatabase, BumpVersions.
package gate

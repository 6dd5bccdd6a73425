package tablecast

import (
	"strings"
)

// MaxNameLen is the longest database, table or column name accepted.
const MaxNameLen = 64

// Tables that tablecast keeps in every database. They are never publishable
// and never readable through a public path.
const (
	PublicTablesTable = "_public_tables"
	PublicAuditTable  = "_public_audit"
	// TableVersionsTable counts the write transactions that changed each
	// table; its row '' counts every tablecast write transaction.
	TableVersionsTable = "_table_versions"
	// PublicDatabaseTable holds the database-wide switches: every table
	// public (all_tables), public SQL (allow_sql). One row, id 1.
	PublicDatabaseTable = "_public_database"
)

// DBFileName is the name of a database's file on the LiteFS mount.
func DBFileName(db string) string { return db + ".db" }

// DBNameFromFile is the inverse of DBFileName; ok is false for files that
// are not tablecast databases.
func DBNameFromFile(file string) (db string, ok bool) {
	db, ok = strings.CutSuffix(file, ".db")
	if !ok || ValidateDBName(db) != nil {
		return "", false
	}
	return db, true
}

// ValidateDBName accepts 1-64 characters of ASCII letters, digits, '_' and
// '-', starting with a letter or digit.
func ValidateDBName(name string) error {
	if err := validateName("database", name, true); err != nil {
		return err
	}
	if c := name[0]; c == '_' || c == '-' {
		return Errorf(EINVALID, "invalid database name %q: must start with a letter or digit", name)
	}
	return nil
}

// ValidateTableName accepts 1-64 characters of ASCII letters, digits and
// '_', not starting with a digit, and refuses names reserved for tablecast
// or SQLite (anything starting with '_' or 'sqlite_').
func ValidateTableName(name string) error {
	if err := validateName("table", name, false); err != nil {
		return err
	}
	if IsReservedTable(name) {
		return Errorf(EINVALID, "invalid table name %q: names starting with '_' or 'sqlite_' are reserved", name)
	}
	return nil
}

// ValidateColumnName accepts the same characters as a table name; column
// names may start with '_' but not be 'rowid' and friends.
func ValidateColumnName(name string) error {
	if err := validateName("column", name, false); err != nil {
		return err
	}
	switch strings.ToLower(name) {
	case "rowid", "_rowid_", "oid":
		return Errorf(EINVALID, "invalid column name %q: reserved by SQLite", name)
	}
	return nil
}

// IsReservedTable reports whether a table name belongs to tablecast or SQLite.
func IsReservedTable(name string) bool {
	return strings.HasPrefix(name, "_") || strings.HasPrefix(strings.ToLower(name), "sqlite_")
}

func validateName(kind, name string, allowDash bool) error {
	if name == "" {
		return Errorf(EINVALID, "invalid %s name: empty", kind)
	}
	if len(name) > MaxNameLen {
		return Errorf(EINVALID, "invalid %s name: longer than %d characters", kind, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9':
			if i == 0 && !allowDash {
				return Errorf(EINVALID, "invalid %s name %q: must not start with a digit", kind, name)
			}
		case c == '-' && allowDash:
		default:
			return Errorf(EINVALID, "invalid %s name %q: only letters, digits and '_' allowed", kind, name)
		}
	}
	return nil
}

// QuoteIdent quotes an SQLite identifier. Every identifier that reaches SQL
// goes through it, validated or not.
func QuoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

package primary

/*
typedef struct sqlite3_stmt sqlite3_stmt;
const char *sqlite3_bind_parameter_name(sqlite3_stmt*, int);
*/
import "C"

import (
	"errors"
	"reflect"
	"unsafe"

	"github.com/mattn/go-sqlite3"
)

// stmtParamNames lists the parameters of a prepared statement as SQLite
// reads them (sqlite3_bind_parameter_name, which mattn/go-sqlite3 does not
// wrap): ":name", "@name", "$name", or "" for a positional one, by index.
func stmtParamNames(st *sqlite3.SQLiteStmt) ([]string, error) {
	s := reflect.ValueOf(st).Elem().FieldByName("s")
	if !s.IsValid() || s.Kind() != reflect.Pointer || s.IsNil() {
		return nil, errors.New("mattn/go-sqlite3 changed: no statement handle")
	}
	p := (*C.sqlite3_stmt)(unsafe.Pointer(s.Pointer()))
	names := make([]string, st.NumInput())
	for i := range names {
		if n := C.sqlite3_bind_parameter_name(p, C.int(i+1)); n != nil {
			names[i] = C.GoString(n)
		}
	}
	return names, nil
}

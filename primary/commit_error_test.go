package primary

import (
	"context"
	"errors"
	"net/http"
	"syscall"
	"testing"

	"github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
)

// A refused commit says nothing was written (503); a commit that failed
// for a reason that may come after the commit frame says the write may or
// may not have been applied (502). Never a bare 500.
func TestCommitError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"litefs refuses the wal write (not primary)", sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.EACCES}, http.StatusServiceUnavailable},
		{"read-only", sqlite3.Error{Code: sqlite3.ErrReadonly}, http.StatusServiceUnavailable},
		{"busy", sqlite3.Error{Code: sqlite3.ErrBusy}, http.StatusServiceUnavailable},
		{"deferred constraint", sqlite3.Error{Code: sqlite3.ErrConstraint}, http.StatusBadRequest},
		{"request ended", context.Canceled, http.StatusServiceUnavailable},
		{"other i/o error", sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.EIO}, http.StatusBadGateway},
		{"anything else", errors.New("boom"), http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := commitError(tc.err)
			if got := tablecast.StatusOf(tablecast.ErrorCode(err)); got != tc.want {
				t.Fatalf("status %d (%v), want %d", got, err, tc.want)
			}
			if msg := tablecast.ErrorMessage(err); msg == "Internal error" {
				t.Fatalf("message hidden: %v", err)
			}
		})
	}
}

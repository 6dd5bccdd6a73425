// Package tablecast holds the domain types shared by the read path (replica/),
// the write path (primary/), routing and the wiring in cmd/: TXIDs, names,
// errors with codes, and the one mapping from error codes to HTTP statuses.
package tablecast

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// Error codes. The HTTP layer maps each to one status (see StatusOf).
const (
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ECONFLICT     = "conflict"
	ETOOLARGE     = "too_large"
	EUNAVAILABLE  = "unavailable"
	EINTERNAL     = "internal"

	// EFULL: the primary is short of disk space (507): nothing was written.
	EFULL = "insufficient_storage"
	// EUNKNOWN: a write failed at a point where it may or may not have been
	// applied (502); the client must read before it retries.
	EUNKNOWN = "outcome_unknown"
	// ETIMEOUT: what the request waited for did not happen in time (504).
	ETIMEOUT = "timeout"
	// EMETHOD: the route does not answer this HTTP method (405).
	EMETHOD = "method_not_allowed"
)

// Error is an application error with a code and a message safe to show users.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EINTERNAL for errors without one.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err; internal errors are
// not shown to users.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error"
}

// TXID is a LiteFS transaction ID: it grows by one with each committed
// transaction of a database. Formatted as 16 hex digits, as LiteFS does.
type TXID uint64

func (t TXID) String() string { return fmt.Sprintf("%016x", uint64(t)) }

// ParseTXID parses the 16-hex-digit form (leading zeros optional).
func ParseTXID(s string) (TXID, error) {
	if s == "" || len(s) > 16 {
		return 0, Errorf(EINVALID, "invalid txid %q: want up to 16 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, Errorf(EINVALID, "invalid txid %q: want up to 16 hex digits", s)
	}
	return TXID(v), nil
}

// Pos is a database's position: its TXID and LiteFS's checksum of the
// whole database after that transaction. Two nodes at the same Pos hold
// the same database; the same TXID alone proves nothing (after a failover
// two histories can reach the same TXID with different writes).
type Pos struct {
	TXID     TXID
	Checksum uint64
}

// String is "TXID/CHECKSUM", both as 16 hex digits.
func (p Pos) String() string { return fmt.Sprintf("%s/%016x", p.TXID, p.Checksum) }

// ParseChecksum parses a checksum as 16 hex digits (leading zeros optional).
func ParseChecksum(s string) (uint64, error) {
	if s == "" || len(s) > 16 {
		return 0, Errorf(EINVALID, "invalid checksum %q: want up to 16 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, Errorf(EINVALID, "invalid checksum %q: want up to 16 hex digits", s)
	}
	return v, nil
}

// PosReader is implemented by Positions that also know checksums (the
// embedded LiteFS store): the write path reads a commit's Pos with it.
type PosReader interface {
	Pos(db string) (Pos, bool)
}

// Positions tells the current TXID of each database on this node. The
// embedded LiteFS store implements it without a system call.
type Positions interface {
	// TXID returns the database's current TXID, and false if this node has
	// no such database.
	TXID(db string) (TXID, bool)
	// Databases lists the names of the databases on this node.
	Databases() []string
}

// CommitFence orders this process's commits against the start of its read
// transactions. In WAL mode LiteFS moves a database's TXID only when the
// writer releases its WAL write lock, a moment after the new data became
// visible to readers. Writers hold the fence across commit + TXID read;
// readers hold it shared while they pin their snapshot, so the TXID they
// see always names the snapshot they read.
type CommitFence struct{ mu sync.RWMutex }

func (f *CommitFence) LockCommit()     { f.mu.Lock() }
func (f *CommitFence) UnlockCommit()   { f.mu.Unlock() }
func (f *CommitFence) LockSnapshot()   { f.mu.RLock() }
func (f *CommitFence) UnlockSnapshot() { f.mu.RUnlock() }

package primary

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/tablecast/tablecast"
)

// TokenInfo describes a token for the admin pages and the token API:
// never its secret, nor its hash.
type TokenInfo struct {
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	Source    string   `json:"source"` // SourceConfig or SourceDatabase
	State     string   `json:"state"`  // active, expired or revoked
	CreatedAt string   `json:"created_at,omitempty"`
	ExpiresAt string   `json:"expires_at,omitempty"`
	RevokedAt string   `json:"revoked_at,omitempty"`
}

// Where a token is kept.
const (
	SourceConfig   = "config"   // tablecast.tokens of every node
	SourceDatabase = "database" // _tablecast.db, made through the admin API
)

// NewToken is what the admin asks for when making a token.
type NewToken struct {
	Name    string   // "" picks one
	Scopes  []string // at least one of AllScopes
	Expires string   // "" never; "30d", "12h", "90m"…
}

// List returns the config tokens, then those of _tablecast.db.
func (t *Tokens) List(ctx context.Context) ([]TokenInfo, error) {
	var out []TokenInfo
	for _, tok := range t.list {
		out = append(out, TokenInfo{Name: tok.name, Scopes: tok.scopes, Source: SourceConfig, State: stateActive})
	}
	if t.Store == nil {
		return out, nil
	}
	recs, err := t.Store.tokens(ctx)
	for _, r := range recs {
		out = append(out, t.info(r))
	}
	return out, err
}

func (t *Tokens) info(r tokenRecord) TokenInfo {
	return TokenInfo{Name: r.name, Scopes: r.scopes, Source: SourceDatabase, State: r.state(t.now()),
		CreatedAt: r.createdAt, ExpiresAt: r.expiresAt, RevokedAt: r.revokedAt}
}

// Create makes a token in _tablecast.db, audited as made by by. It returns
// the secret, which is not kept anywhere, and the TXID of the change.
func (t *Tokens) Create(ctx context.Context, req NewToken, by string) (TokenInfo, string, tablecast.TXID, error) {
	rec, err := t.newRecord(req)
	if err != nil {
		return TokenInfo{}, "", 0, err
	}
	if t.hasConfigToken(rec.name) {
		return TokenInfo{}, "", 0, tablecast.Errorf(tablecast.ECONFLICT, "A config token is named %s", rec.name)
	}
	secret, err := NewSecret()
	if err != nil {
		return TokenInfo{}, "", 0, err
	}
	txid, err := t.Store.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE name = ?`, rec.name).Scan(&n); err != nil {
			return sqliteError("look up token", err)
		} else if n > 0 {
			return tablecast.Errorf(tablecast.ECONFLICT, "A token named %s exists already (revoked names are not reused)", rec.name)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (name, hash, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, nullif(?, ''))`,
			rec.name, HashToken(secret), strings.Join(rec.scopes, ","), rec.createdAt, rec.expiresAt)
		if err != nil {
			return sqliteError("create token", err)
		}
		return appendAudit(ctx, tx, AuditEntry{At: rec.createdAt, Token: by, Action: auditTokenCreate, Target: rec.name})
	})
	if err != nil {
		return TokenInfo{}, "", 0, err
	}
	return t.info(rec), secret, txid, nil
}

// newRecord checks a NewToken and fills in its name and times.
func (t *Tokens) newRecord(req NewToken) (tokenRecord, error) {
	if t.Store == nil {
		return tokenRecord{}, tablecast.Errorf(tablecast.EUNAVAILABLE, "This node keeps no token database")
	}
	rec := tokenRecord{name: req.Name}
	if rec.name == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		rec.name = "token-" + hex.EncodeToString(b)
	}
	if err := ValidateTokenName(rec.name); err != nil {
		return rec, err
	}
	var err error
	if rec.scopes, err = ParseScopes(req.Scopes); err != nil {
		return rec, err
	}
	now := t.now()
	rec.createdAt = formatTime(now)
	if req.Expires != "" {
		d, err := ParseExpiry(req.Expires)
		if err != nil {
			return rec, err
		}
		rec.expiresAt = formatTime(now.Add(d))
	}
	return rec, nil
}

// Revoke marks a token of _tablecast.db revoked and ends its sessions.
// Revoking a revoked token changes nothing. Config tokens are revoked by
// taking them out of every node's config.
func (t *Tokens) Revoke(ctx context.Context, name, by string) (TokenInfo, tablecast.TXID, error) {
	if t.hasConfigToken(name) {
		return TokenInfo{}, 0, tablecast.Errorf(tablecast.EINVALID, "Token %s is in the node config: remove it from tablecast.tokens on every node", name)
	}
	if t.Store == nil {
		return TokenInfo{}, 0, tablecast.Errorf(tablecast.ENOTFOUND, "No token named %s", name)
	}
	var rec tokenRecord
	txid, err := t.Store.write(ctx, func(tx *sql.Tx) error {
		var err error
		rec, err = scanToken(tx.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE name = ?", name).Scan)
		if errors.Is(err, sql.ErrNoRows) {
			return tablecast.Errorf(tablecast.ENOTFOUND, "No token named %s", name)
		} else if err != nil {
			return sqliteError("look up token", err)
		}
		if rec.revokedAt != "" {
			return errAlreadyRevoked
		}
		rec.revokedAt = timestamp()
		if _, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE name = ?`, rec.revokedAt, name); err != nil {
			return sqliteError("revoke token", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_name = ?`, name); err != nil {
			return sqliteError("end sessions", err)
		}
		return appendAudit(ctx, tx, AuditEntry{At: rec.revokedAt, Token: by, Action: auditTokenRevoke, Target: name})
	})
	if errors.Is(err, errAlreadyRevoked) {
		return t.info(rec), 0, nil
	}
	return t.info(rec), txid, err
}

var errAlreadyRevoked = errors.New("already revoked")

// ValidateTokenName accepts 1-64 ASCII letters, digits, '_', '-' and '.',
// starting with a letter or digit.
func ValidateTokenName(name string) error {
	ok := name != "" && len(name) <= tablecast.MaxNameLen
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || (i > 0 && (c == '_' || c == '-' || c == '.'))
	}
	if !ok {
		return tablecast.Errorf(tablecast.EINVALID, "Invalid token name %q: 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit", name)
	}
	return nil
}

// ParseExpiry parses a token lifetime: a number of days ("30d") or a Go
// duration ("12h", "90m"), positive.
func ParseExpiry(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
		if n > 100*365 {
			err = errors.New("too long")
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, tablecast.Errorf(tablecast.EINVALID, "Invalid expiry %q: want a positive duration like 30d or 12h", s)
	}
	return d, nil
}

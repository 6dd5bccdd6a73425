package primary

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tablecast/tablecast"
)

// SecretPrefix starts every secret made by NewSecret.
const SecretPrefix = "tc_"

// Scopes a token may hold. Every write and operator route needs one;
// reads need none, but read lets a token read private tables too.
const (
	ScopeRead    = "read"    // private tables on every node (JSON, CSV, HTML); implied by admin
	ScopeWrite   = "write"   // create, insert, upsert, update, delete
	ScopePublish = "publish" // publish, unpublish
	ScopeSchema  = "schema"  // schema changes: drop, alter, views, indexes, full-text, execute
	ScopeAdmin   = "admin"   // admin pages, token management, cluster routes, import
)

// AllScopes lists every scope, in the order they are shown.
var AllScopes = []string{ScopeRead, ScopeWrite, ScopePublish, ScopeSchema, ScopeAdmin}

// ParseScopes checks a list of scope names and returns it without
// duplicates, in AllScopes order. An empty list is refused.
func ParseScopes(list []string) ([]string, error) {
	var out []string
	for _, s := range AllScopes {
		for _, got := range list {
			if strings.TrimSpace(got) == s {
				out = append(out, s)
				break
			}
		}
	}
	for _, got := range list {
		if !slices.Contains(AllScopes, strings.TrimSpace(got)) {
			return nil, tablecast.Errorf(tablecast.EINVALID, "Unknown scope %q: want read, write, publish, schema or admin", got)
		}
	}
	if len(out) == 0 {
		return nil, tablecast.Errorf(tablecast.EINVALID, "A token needs at least one scope: read, write, publish, schema or admin")
	}
	return out, nil
}

// Token is a named credential from a node's config. Only the hash of its
// secret is kept.
type Token struct {
	Name   string
	Hash   string   // hex SHA-256 of the secret
	Scopes []string // nil: every scope
}

// Principal is who an authenticated request acts as: a token's name and
// what it may do.
type Principal struct {
	Name   string
	Scopes []string
	Config bool // a token from the node's config, not from _tablecast.db
}

// Has reports whether the principal holds scope. admin implies read: an
// operator who can make a read token may as well read.
func (p Principal) Has(scope string) bool {
	return slices.Contains(p.Scopes, scope) || (scope == ScopeRead && slices.Contains(p.Scopes, ScopeAdmin))
}

// require is EFORBIDDEN unless the principal holds scope.
func (p Principal) require(scope string) error {
	if !p.Has(scope) {
		return tablecast.Errorf(tablecast.EFORBIDDEN, "Token %q lacks the %s scope", p.Name, scope)
	}
	return nil
}

// HashToken returns the hex SHA-256 of a secret, the form kept in Token.Hash.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewSecret returns a new random secret: "tc_" + 32 random bytes, base64url.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Tokens authenticates requests against the tokens of the node's config
// and, when Store is set, the tokens kept in _tablecast.db. It is safe for
// concurrent use once set up.
type Tokens struct {
	list []tokenHash

	// Store holds the tokens made through the admin API; nil: config only.
	Store *ControlDB
	// Now is the clock expiry is checked against; nil: time.Now.
	Now func() time.Time
}

type tokenHash struct {
	name   string
	hash   []byte
	scopes []string
}

// NewTokens checks and loads config tokens: names must be non-empty and
// unique, hashes 64 hex digits, scopes known. A token without scopes gets
// every scope.
func NewTokens(tokens []Token) (*Tokens, error) {
	t := &Tokens{}
	seen := make(map[string]bool, len(tokens))
	for i, tok := range tokens {
		if tok.Name == "" {
			return nil, fmt.Errorf("token %d: empty name", i)
		}
		if seen[tok.Name] {
			return nil, fmt.Errorf("token %q: duplicate name", tok.Name)
		}
		seen[tok.Name] = true
		hash, err := hex.DecodeString(tok.Hash)
		if err != nil || len(hash) != sha256.Size {
			return nil, fmt.Errorf("token %q: hash must be 64 hex digits (sha256)", tok.Name)
		}
		scopes := AllScopes
		if tok.Scopes != nil {
			if scopes, err = ParseScopes(tok.Scopes); err != nil {
				return nil, fmt.Errorf("token %q: %s", tok.Name, tablecast.ErrorMessage(err))
			}
		}
		t.list = append(t.list, tokenHash{name: tok.Name, hash: hash, scopes: scopes})
	}
	return t, nil
}

// Authenticate returns the name of the token whose secret the request
// carries as "Authorization: Bearer <secret>", whatever its scopes. A nil
// *Tokens refuses all.
func (t *Tokens) Authenticate(r *http.Request) (name string, err error) {
	p, err := t.principal(r)
	return p.Name, err
}

// Identify returns the principal of the request's bearer token, whatever
// its scopes: EUNAUTHORIZED for a missing, unknown, expired or revoked
// token.
func (t *Tokens) Identify(r *http.Request) (Principal, error) {
	return t.principal(r)
}

// Authorize authenticates the request's bearer token and checks that it
// holds scope: EUNAUTHORIZED for a missing, unknown, expired or revoked
// token, EFORBIDDEN for one without the scope.
func (t *Tokens) Authorize(r *http.Request, scope string) (Principal, error) {
	p, err := t.principal(r)
	if err != nil {
		return Principal{}, err
	}
	if err := p.require(scope); err != nil {
		return Principal{}, err
	}
	return p, nil
}

// ReadsPrivate authenticates the bearer token of a read and reports
// whether it may read private tables (it holds read, or admin). A missing,
// unknown, expired or revoked token is EUNAUTHORIZED; a valid token
// without read is false, nil: its reads are anonymous ones. On a replica
// the stored tokens come from its replicated copy of _tablecast.db, so a
// revocation holds there once that copy has applied it.
func (t *Tokens) ReadsPrivate(r *http.Request) (bool, error) {
	p, err := t.principal(r)
	if err != nil {
		return false, err
	}
	return p.Has(ScopeRead), nil
}

func (t *Tokens) principal(r *http.Request) (Principal, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return Principal{}, tablecast.Errorf(tablecast.EUNAUTHORIZED, "Missing token")
	}
	scheme, secret, _ := strings.Cut(header, " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return Principal{}, errInvalidToken
	}
	return t.Check(r.Context(), secret)
}

var errInvalidToken = tablecast.Errorf(tablecast.EUNAUTHORIZED, "Invalid token")

// Check returns the principal of a secret: a config token, or a token of
// _tablecast.db that is neither expired nor revoked.
func (t *Tokens) Check(ctx context.Context, secret string) (Principal, error) {
	if t == nil {
		return Principal{}, errInvalidToken
	}
	sum := sha256.Sum256([]byte(secret))
	// Compare against every config token so that timing does not tell which matched.
	var found *tokenHash
	for i, tok := range t.list {
		if subtle.ConstantTimeCompare(sum[:], tok.hash) == 1 {
			found = &t.list[i]
		}
	}
	if found != nil {
		return Principal{Name: found.name, Scopes: found.scopes, Config: true}, nil
	}
	if t.Store == nil {
		return Principal{}, errInvalidToken
	}
	rec, ok, err := t.Store.tokenByHash(ctx, hex.EncodeToString(sum[:]))
	if err != nil {
		return Principal{}, err
	} else if !ok {
		return Principal{}, errInvalidToken
	}
	return t.usable(rec)
}

// Lookup returns the principal of a token by name if it is still usable:
// how a session checks, at each request, the token it was opened with.
func (t *Tokens) Lookup(ctx context.Context, name string) (Principal, error) {
	if t == nil {
		return Principal{}, errInvalidToken
	}
	for _, tok := range t.list {
		if tok.name == name {
			return Principal{Name: tok.name, Scopes: tok.scopes, Config: true}, nil
		}
	}
	if t.Store == nil {
		return Principal{}, errInvalidToken
	}
	rec, ok, err := t.Store.tokenByName(ctx, name)
	if err != nil {
		return Principal{}, err
	} else if !ok {
		return Principal{}, errInvalidToken
	}
	return t.usable(rec)
}

// usable refuses a revoked or expired stored token.
func (t *Tokens) usable(rec tokenRecord) (Principal, error) {
	switch rec.state(t.now()) {
	case stateRevoked:
		return Principal{}, tablecast.Errorf(tablecast.EUNAUTHORIZED, "Token has been revoked")
	case stateExpired:
		return Principal{}, tablecast.Errorf(tablecast.EUNAUTHORIZED, "Token has expired")
	}
	return Principal{Name: rec.name, Scopes: rec.scopes}, nil
}

func (t *Tokens) now() time.Time {
	if t != nil && t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// hasConfigToken reports whether a config token has that name.
func (t *Tokens) hasConfigToken(name string) bool {
	for _, tok := range t.list {
		if tok.name == name {
			return true
		}
	}
	return false
}

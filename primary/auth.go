package primary

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/tablecast/tablecast"
)

// SecretPrefix starts every secret made by NewSecret.
const SecretPrefix = "tc_"

// Token is a named write credential. Only the hash of its secret is kept.
type Token struct {
	Name string
	Hash string // hex SHA-256 of the secret
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

// Tokens authenticates requests against a fixed set of tokens. It is safe
// for concurrent use.
type Tokens struct {
	list []tokenHash
}

type tokenHash struct {
	name string
	hash []byte
}

// NewTokens checks and loads tokens: names must be non-empty and unique,
// hashes 64 hex digits.
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
		t.list = append(t.list, tokenHash{name: tok.Name, hash: hash})
	}
	return t, nil
}

// Authenticate returns the name of the token whose secret the request
// carries as "Authorization: Bearer <secret>". A nil *Tokens refuses all.
func (t *Tokens) Authenticate(r *http.Request) (name string, err error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return "", tablecast.Errorf(tablecast.EUNAUTHORIZED, "Missing token")
	}
	scheme, secret, _ := strings.Cut(header, " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" || t == nil {
		return "", tablecast.Errorf(tablecast.EUNAUTHORIZED, "Invalid token")
	}
	sum := sha256.Sum256([]byte(secret))
	// Compare against every token so that timing does not tell which matched.
	for _, tok := range t.list {
		if subtle.ConstantTimeCompare(sum[:], tok.hash) == 1 {
			name = tok.name
		}
	}
	if name == "" {
		return "", tablecast.Errorf(tablecast.EUNAUTHORIZED, "Invalid token")
	}
	return name, nil
}

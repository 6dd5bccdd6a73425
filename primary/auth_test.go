package primary

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tablecast/tablecast"
)

func TestHashToken(t *testing.T) {
	// sha256("abc"), from FIPS 180-2.
	got := HashToken("abc")
	want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a, "tc_") || len(a) != 3+43 {
		t.Errorf("got %q, want tc_ + 43 base64url characters", a)
	}
	if a == b {
		t.Errorf("two secrets are equal: %q", a)
	}
}

func TestNewTokens(t *testing.T) {
	good := HashToken("s")
	for _, tt := range []struct {
		name   string
		tokens []Token
		errMsg string
	}{
		{"OK", []Token{{Name: "a", Hash: good}, {Name: "b", Hash: HashToken("t")}}, ""},
		{"Empty", nil, ""},
		{"EmptyName", []Token{{Name: "", Hash: good}}, "empty name"},
		{"DuplicateName", []Token{{Name: "a", Hash: good}, {Name: "a", Hash: HashToken("t")}}, "duplicate name"},
		{"HashNotHex", []Token{{Name: "a", Hash: strings.Repeat("z", 64)}}, "64 hex digits"},
		{"HashTooShort", []Token{{Name: "a", Hash: good[:62]}}, "64 hex digits"},
		{"HashIsSecret", []Token{{Name: "a", Hash: "tc_secret"}}, "64 hex digits"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTokens(tt.tokens)
			switch {
			case tt.errMsg == "" && err != nil:
				t.Errorf("unexpected error: %s", err)
			case tt.errMsg != "" && (err == nil || !strings.Contains(err.Error(), tt.errMsg)):
				t.Errorf("got error %v, want one containing %q", err, tt.errMsg)
			}
		})
	}
}

func TestTokens_Authenticate(t *testing.T) {
	tokens, err := NewTokens([]Token{{Name: "alice", Hash: HashToken("tc_a")}, {Name: "bob", Hash: HashToken("tc_b")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		header string
		want   string // token name, or the error message
		ok     bool
	}{
		{"Alice", "Bearer tc_a", "alice", true},
		{"Bob", "Bearer tc_b", "bob", true},
		{"LowerCaseScheme", "bearer tc_a", "alice", true},
		{"Missing", "", "Missing token", false},
		{"WrongSecret", "Bearer tc_c", "Invalid token", false},
		{"HashAsSecret", "Bearer " + HashToken("tc_a"), "Invalid token", false},
		{"WrongScheme", "Basic tc_a", "Invalid token", false},
		{"NoSecret", "Bearer ", "Invalid token", false},
		{"SchemeOnly", "Bearer", "Invalid token", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			name, err := tokens.Authenticate(r)
			if tt.ok {
				if err != nil || name != tt.want {
					t.Errorf("got %q, %v; want %q", name, err, tt.want)
				}
				return
			}
			if tablecast.ErrorCode(err) != tablecast.EUNAUTHORIZED || tablecast.ErrorMessage(err) != tt.want {
				t.Errorf("got %q, %v; want unauthorized %q", name, err, tt.want)
			}
		})
	}
	t.Run("NilTokens", func(t *testing.T) {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("Authorization", "Bearer tc_a")
		var none *Tokens
		if _, err := none.Authenticate(r); tablecast.ErrorCode(err) != tablecast.EUNAUTHORIZED {
			t.Errorf("got %v, want unauthorized", err)
		}
	})
}

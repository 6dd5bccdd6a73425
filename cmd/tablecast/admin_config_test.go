package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/primary"
)

// Config tokens have every scope unless they list theirs; the cluster
// token's entry always has every scope.
func TestParseConfig_TokenScopes(t *testing.T) {
	base := "fuse:\n  dir: /f\ndata:\n  dir: /d\ntablecast:\n  insecure-plaintext: true\n  cluster-token: cluster-secret\n  tokens:\n"
	c, err := ParseConfig([]byte(base +
		"    - name: all\n      token: a\n" +
		"    - name: bot\n      token: b\n      scopes: [write]\n" +
		"    - name: node\n      token: cluster-secret\n"))
	if err != nil {
		t.Fatal(err)
	}
	toks, err := c.Tablecast.tokens()
	if err != nil {
		t.Fatal(err)
	}
	tk, err := primary.NewTokens(toks)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		secret string
		want   []string
	}{
		{"a", primary.AllScopes},
		{"b", []string{"write"}},
		{"cluster-secret", primary.AllScopes},
	} {
		p, err := tk.Check(t.Context(), tt.secret)
		if err != nil || !slices.Equal(p.Scopes, tt.want) {
			t.Errorf("token %q: scopes %v %v, want %v", tt.secret, p.Scopes, err, tt.want)
		}
	}
	for name, text := range map[string]string{
		"UnknownScope":         "    - name: x\n      token: x\n      scopes: [write, root]\n",
		"EmptyScopes":          "    - name: x\n      token: x\n      scopes: []\n",
		"ClusterTokenScoped":   "    - name: node\n      token: cluster-secret\n      scopes: [write]\n",
		"ClusterTokenBySHA256": "    - name: node\n      sha256: " + primary.HashToken("cluster-secret") + "\n      scopes: [admin]\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig([]byte(base + text))
			if err == nil || !strings.Contains(err.Error(), "tablecast.tokens[0].scopes") {
				t.Fatalf("got %v, want an error naming tablecast.tokens[0].scopes", err)
			}
		})
	}
}

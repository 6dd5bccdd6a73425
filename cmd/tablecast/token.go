package main

import (
	"fmt"
	"strings"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/primary"
)

// runToken: `tablecast token create|list|revoke`. Without -url, create
// makes a config token offline: the secret is shown once and the node
// keeps only its SHA-256. With -url, tokens are made, listed and revoked
// through the primary's admin API (admin_token.go).
func runToken(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: tablecast token create|list|revoke (see tablecast help)")
	}
	switch args[0] {
	case "create":
		return runTokenCreate(args[1:])
	case "list":
		return runTokenList(args[1:])
	case "revoke":
		return runTokenRevoke(args[1:])
	}
	return fmt.Errorf("unknown token command %q: want create, list or revoke", args[0])
}

// createOffline prints a new secret and the config entry holding its hash.
func createOffline(name, scopes string) error {
	if name == "" {
		name = "writer"
	}
	var list []string
	if scopes != "" {
		// Checked here, not first when a node loads the config.
		var err error
		if list, err = primary.ParseScopes(strings.Split(scopes, ",")); err != nil {
			return fmt.Errorf("token create: %s", tablecast.ErrorMessage(err))
		}
	}
	secret, err := primary.NewSecret()
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	fmt.Printf("token: %s\n\nAdd to the tablecast section of every node's config:\n  tokens:\n    - name: %s\n      sha256: %s\n",
		secret, name, primary.HashToken(secret))
	if list != nil {
		fmt.Printf("      scopes: [%s]\n", strings.Join(list, ", "))
	}
	return nil
}

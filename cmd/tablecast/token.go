package main

import (
	"flag"
	"fmt"

	"github.com/tablecast/tablecast/primary"
)

// runToken: `tablecast token create [-name NAME]`. The secret is shown once;
// the node keeps only its SHA-256.
func runToken(args []string) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("usage: tablecast token create [-name NAME]")
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	name := fs.String("name", "writer", "name recorded in the audit log for writes made with this token")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	secret, err := primary.NewSecret()
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	fmt.Printf("token: %s\n\nAdd to the tablecast section of every node's config:\n  tokens:\n    - name: %s\n      sha256: %s\n",
		secret, *name, primary.HashToken(secret))
	return nil
}

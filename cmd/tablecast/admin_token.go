package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// runTokenCreate: `tablecast token create [-name N] [-scope S,…] [-expires 30d] [-url URL -token ADMIN]`.
func runTokenCreate(args []string) error {
	fs, name, scopes, expires, u, tok := tokenFlags()
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *u == "" {
		if *expires != "" {
			return fmt.Errorf("token create: -expires needs -url (config tokens do not expire: take them out of the config)")
		}
		return createOffline(*name, *scopes)
	}
	if *scopes == "" {
		return fmt.Errorf("token create: -scope is required with -url (read, write, publish, schema, admin, comma-separated)")
	}
	body := map[string]any{"name": *name, "scopes": strings.Split(*scopes, ","), "expires": *expires}
	out, err := callAdmin(http.MethodPost, *u, tokenOr(*tok), "/-/admin/api/tokens", body)
	if err != nil {
		return err
	}
	info, _ := out["token"].(map[string]any)
	fmt.Printf("token: %v\n\nname: %v\nscopes: %v\nexpires: %v\n", out["secret"], info["name"], joinAny(info["scopes"]), orNever(info["expires_at"]))
	fmt.Println("\nThe secret is shown once; the cluster keeps only its SHA-256 (in _tablecast.db).")
	if out["synced"] != true {
		fmt.Fprintln(os.Stderr, "warning: no other candidate confirmed the token yet; a failover right now could lose it")
	}
	return nil
}

// tokenFlags are the flags of `token create`.
func tokenFlags() (fs *flag.FlagSet, name, scopes, expires, u, tok *string) {
	fs = flag.NewFlagSet("token create", flag.ContinueOnError)
	name = fs.String("name", "", "token name, recorded in the audit log for what it does (offline default: writer)")
	scopes = fs.String("scope", "", "comma-separated scopes: read, write, publish, schema, admin (offline default: all; required with -url)")
	expires = fs.String("expires", "", "with -url: lifetime, like 30d or 12h (default: never)")
	u = fs.String("url", "", "API URL of any node: make the token through the primary's admin API; without it, print a config entry")
	tok = fs.String("token", "", "with -url: a token secret with the admin scope (env TABLECAST_TOKEN)")
	return
}

// runTokenList: `tablecast token list [-url URL] [-token ADMIN]`.
func runTokenList(args []string) error {
	fs, u, tok := operatorFlags("token list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	out, err := callAdmin(http.MethodGet, *u, *tok, "/-/admin/api/tokens", nil)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCOPES\tKEPT IN\tSTATE\tCREATED\tEXPIRES")
	list, _ := out["tokens"].([]any)
	for _, t := range list {
		m, _ := t.(map[string]any)
		expires := ""
		if m["source"] == "database" {
			expires = orNever(m["expires_at"])
		}
		fmt.Fprintf(tw, "%v\t%s\t%v\t%v\t%s\t%s\n", m["name"], joinAny(m["scopes"]), m["source"], m["state"], str(m["created_at"]), expires)
	}
	return tw.Flush()
}

// runTokenRevoke: `tablecast token revoke NAME [-url URL] [-token ADMIN]`
// (the name may also come after the flags).
func runTokenRevoke(args []string) error {
	fs, u, tok := operatorFlags("token revoke")
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	if name == "" {
		return fmt.Errorf("usage: tablecast token revoke NAME [-url URL] [-token ADMIN]")
	}
	out, err := callAdmin(http.MethodPost, *u, *tok, "/-/admin/api/tokens/"+url.PathEscape(name)+"/revoke", nil)
	if err != nil {
		return err
	}
	info, _ := out["token"].(map[string]any)
	fmt.Printf("revoked %v at %v\n", info["name"], info["revoked_at"])
	return nil
}

// callAdmin calls the admin API of the node at base (any node: others
// proxy to the primary).
func callAdmin(method, base, token, path string, body any) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return callJSON(ctx, cliClient, method, strings.TrimSuffix(base, "/")+path, token, body)
}

func tokenOr(tok string) string {
	if tok == "" {
		return os.Getenv("TABLECAST_TOKEN")
	}
	return tok
}

func joinAny(v any) string {
	list, _ := v.([]any)
	parts := make([]string, len(list))
	for i, s := range list {
		parts[i] = str(s)
	}
	return strings.Join(parts, ",")
}

func orNever(v any) string {
	if s := str(v); s != "" {
		return s
	}
	return "never"
}

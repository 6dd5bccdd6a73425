package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/primary"
)

// importAnswer is the primary's answer to POST /{db}/-/import.
type importAnswer struct {
	Database      string   `json:"database"`
	TXID          string   `json:"txid"`
	Bytes         int64    `json:"bytes"`
	Replaced      bool     `json:"replaced"`
	Tables        []string `json:"tables"`
	Views         []string `json:"views"`
	Indexes       int      `json:"indexes"`
	Triggers      int      `json:"triggers"`
	Public        []string `json:"public"`
	PublicSkipped []string `json:"public_skipped"`
	PublicDB      struct {
		AllTables bool `json:"all_tables"`
		AllowSQL  bool `json:"allow_sql"`
	} `json:"public_database"`
	Replicas struct {
		Applied bool                  `json:"applied"`
		Nodes   []primary.AppliedNode `json:"nodes"`
		Error   string                `json:"error"`
	} `json:"replicas"`
}

// runImport: `tablecast import FILE.db [-db NAME] [-replace] [-keep-public]
// [-wait DURATION]`.
func runImport(ctx context.Context, args []string) error {
	fs, u, tok := operatorFlags("import")
	name := fs.String("db", "", "database name (default: the file's name without its extension)")
	replace := fs.Bool("replace", false, "replace the database if it exists")
	keep := fs.Bool("keep-public", false, "keep the file's _public_tables (datasette-public): those tables are public at once")
	wait := fs.Duration("wait", DefaultImportCLIWait, "when the primary answers before every node has the file, wait this much longer for them (0: do not)")
	file, err := parseImportArgs(fs, args)
	if err != nil {
		return err
	}
	if *wait < 0 {
		return fmt.Errorf("import: -wait %s: must not be negative (0: do not wait beyond the primary's answer)", *wait)
	}
	if *name == "" {
		*name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	if err := tablecast.ValidateDBName(*name); err != nil {
		return fmt.Errorf("import: %s (choose one with -db)", tablecast.ErrorMessage(err))
	}
	if st, err := os.Stat(file + "-wal"); err == nil && st.Size() > 0 {
		// Those changes are not in FILE: the import would lose them.
		return fmt.Errorf("import: %s-wal holds changes not yet in %s: close the programs using it, or checkpoint it (sqlite3 %s 'PRAGMA wal_checkpoint(TRUNCATE)'), then import", file, file, file)
	}
	ans, err := importFile(ctx, *u, *tok, file, *name, *replace, *keep, os.Stdout)
	if err != nil {
		return err
	}
	printImport(os.Stdout, ans)
	if ans.Replicas.Applied || *wait == 0 {
		return nil
	}
	// The primary waited tablecast.import-wait at most: the command waits
	// on, so that the database is ready on every node when it returns.
	txid, err := tablecast.ParseTXID(ans.TXID)
	if err != nil {
		return fmt.Errorf("import: %s is imported, but its TXID in the answer: %w", ans.Database, err)
	}
	fmt.Fprintf(os.Stdout, "waiting up to %s more for every node (-wait)\n", *wait)
	seen := map[string]bool{}
	for _, n := range ans.Replicas.Nodes {
		seen[n.Name] = n.State == primary.AppliedState
	}
	aw := &applyWait{client: cliClient, base: *u, token: *tok, db: ans.Database, txid: txid, interval: time.Second, out: os.Stdout}
	return aw.run(ctx, *wait, seen)
}

// parseImportArgs parses flags before and after FILE.
func parseImportArgs(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", errors.New("usage: tablecast import FILE.db [-db NAME] [-replace] [-keep-public] [-wait DURATION] -url URL -token T")
	}
	file := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() != 0 {
		return "", fmt.Errorf("import: one file at a time (got %q too)", fs.Args())
	}
	return file, nil
}

// importFile sends file to base's /{db}/-/import, with a progress bar on
// out when it is a terminal.
func importFile(ctx context.Context, base, token, file, db string, replace, keepPublic bool, out *os.File) (*importAnswer, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	q := url.Values{}
	if replace {
		q.Set("replace", "1")
	}
	if keepPublic {
		q.Set("keep_public", "1")
	}
	target := strings.TrimSuffix(base, "/") + "/" + url.PathEscape(db) + "/-/import"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	bar := newProgress(out, st.Size(), "importing "+filepath.Base(file))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, io.TeeReader(f, bar))
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Type", "application/vnd.sqlite3")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// No overall timeout: a file of gigabytes takes what it takes; the
	// primary bounds its own wait for the replicas.
	resp, err := http.DefaultClient.Do(req)
	bar.Finish()
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("import: read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("import: %s: %s", resp.Status, e.Error)
		}
		return nil, fmt.Errorf("import: %s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	var ans importAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, fmt.Errorf("import: decode answer: %w", err)
	}
	return &ans, nil
}

// printImport says what arrived, what is public, and which nodes have it.
func printImport(w io.Writer, a *importAnswer) {
	verb := "imported"
	if a.Replaced {
		verb = "replaced"
	}
	fmt.Fprintf(w, "%s %s: %s, TXID %s: %d tables, %d views, %d indexes, %d triggers\n",
		verb, a.Database, tablecast.FormatBytes(uint64(a.Bytes)), a.TXID, len(a.Tables), len(a.Views), a.Indexes, a.Triggers)
	switch {
	case len(a.Public) > 0:
		fmt.Fprintf(w, "public: %s\n", strings.Join(a.Public, ", "))
	default:
		fmt.Fprintln(w, "public: none (every table and view is private; publish with POST /{db}/{table}/-/publish)")
	}
	if len(a.PublicSkipped) > 0 {
		fmt.Fprintf(w, "not published (no such table or view, or a reserved name): %s\n", strings.Join(a.PublicSkipped, ", "))
	}
	if a.PublicDB.AllTables || a.PublicDB.AllowSQL {
		fmt.Fprintf(w, "whole database: all tables public %t, public SQL %t\n", a.PublicDB.AllTables, a.PublicDB.AllowSQL)
	}
	if a.Replicas.Applied {
		fmt.Fprintf(w, "applied on every node (%d)\n", len(a.Replicas.Nodes))
	} else {
		fmt.Fprintln(w, "NOT yet applied on every node within tablecast.import-wait:", a.Replicas.Error)
	}
	for _, n := range a.Replicas.Nodes {
		if !a.Replicas.Applied || n.State != "applied" {
			fmt.Fprintf(w, "  %s (%s): %s %s %s\n", n.Name, n.Region, n.State, n.TXID, n.Error)
		}
	}
}

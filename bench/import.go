package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// importServeWait bounds the wait, after the answer, for every replica to
// serve the imported database; a run past it reports -1 seconds.
const importServeWait = 2 * time.Minute

// importRowBytes is the payload of one row of the imported file.
const importRowBytes = 4000

// runImport: a SQLite file of -big-mb MB (1 GB by default) imported with
// POST /{db}/-/import, once straight to the primary and once through a
// replica (which streams the body on to the primary): MB/s of the import
// (upload, checks, LiteFS's import, until the answer) and the time until
// every replica serves the new database (its _public_tables kept with
// keep_public, so anonymous reads show it).
func runImport(ctx context.Context, o Options) (*Report, error) {
	mb := o.BigMB
	dir, err := os.MkdirTemp("", "tablecast-bench-import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fmt.Printf("making a %d MB SQLite file…\n", mb)
	file := filepath.Join(dir, "big.db")
	if err := makeImportFile(ctx, file, mb); err != nil {
		return nil, err
	}
	st, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	fmt.Println("starting a local cluster…")
	c, err := startCluster(ctx, nil)
	if err != nil {
		return nil, err
	}
	c.Keep = o.Keep
	defer c.Stop()
	r := &Report{reportHead: newHead("import", map[string]any{"file_bytes": st.Size(), "big_mb": mb}), Ratios: map[string]float64{}}
	mbytes := float64(st.Size()) / 1e6
	for _, via := range []struct{ name, db, url string }{
		{"primary", "big", c.Nodes[0].APIURL},
		{"replica", "big2", c.Replica().APIURL},
	} {
		took, everywhere, applied, err := importOnce(ctx, c, via.url, via.db, file)
		if err != nil {
			return nil, fmt.Errorf("import through the %s: %w", via.name, err)
		}
		r.Ratios["import MB/s, sent to the "+via.name] = mbytes / took.Seconds()
		r.Ratios["seconds until the answer, sent to the "+via.name] = took.Seconds()
		r.Ratios["seconds until every replica serves it, sent to the "+via.name] = everywhere.Seconds()
		if everywhere < 0 {
			r.Ratios["seconds until every replica serves it, sent to the "+via.name] = -1
			r.Notes = append(r.Notes, fmt.Sprintf("via the %s: some replica did not serve it within %s of the answer (-1 above)", via.name, importServeWait))
		}
		fmt.Printf("  via %-8s %6.1f MB/s, answer after %.1f s (every node applied: %t), every replica serves it after %.1f s\n",
			via.name, mbytes/took.Seconds(), took.Seconds(), applied, everywhere.Seconds())
		r.Notes = append(r.Notes, fmt.Sprintf("via the %s: the answer said every node applied it: %t", via.name, applied))
	}
	r.Notes = append(r.Notes,
		fmt.Sprintf("file: %.0f MB, one table of %d-byte random blobs, WAL mode; 5 nodes (3 candidates in lhr, replicas in syd and sjc; every one gets the file) on this machine, loopback with mutual TLS", mbytes, importRowBytes),
		"import time: from the first byte sent to the primary's answer (upload to a temp file, header and PRAGMA integrity_check, tablecast's tables, LiteFS's import, the schema cookie's write, the wait for every node)",
		"every replica serves it: from the first byte sent until each replica answers the file's public table to an anonymous GET (polled every 10 ms)")
	return r, nil
}

// makeImportFile writes a SQLite file of about mb MB: a table of random
// blobs, and a one-row public table listed in _public_tables.
func makeImportFile(ctx context.Context, path string, mb int) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=OFF")
	if err != nil {
		return err
	}
	defer db.Close()
	rows := mb << 20 / (importRowBytes + 100)
	for _, s := range []string{
		`CREATE TABLE items (id INTEGER PRIMARY KEY, payload BLOB)`,
		fmt.Sprintf(`WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) INSERT INTO items (payload) SELECT randomblob(%d) FROM c`, rows, importRowBytes),
		`CREATE TABLE marker (id INTEGER PRIMARY KEY, at TEXT)`,
		`INSERT INTO marker VALUES (1, datetime('now'))`,
		`CREATE TABLE _public_tables (table_name TEXT PRIMARY KEY)`,
		`INSERT INTO _public_tables VALUES ('marker')`,
	} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("make import file: %w", err)
		}
	}
	return db.Close()
}

// importOnce sends file to base as database db (keep_public) and returns
// the time until the answer and until every replica serves db/marker.
func importOnce(ctx context.Context, c *cluster, base, db, file string) (took, everywhere time.Duration, applied bool, err error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, 0, false, err
	}
	defer f.Close()
	st, _ := f.Stat()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/"+db+"/-/import?keep_public=1", f)
	if err != nil {
		return 0, 0, false, err
	}
	req.ContentLength = st.Size()
	req.Header.Set("Authorization", "Bearer "+c.Token)
	start := time.Now()
	served := make(chan time.Duration, len(c.Nodes))
	pollCtx, stop := context.WithCancel(ctx)
	defer stop()
	for _, n := range c.Nodes[1:] {
		go func() {
			for pollCtx.Err() == nil {
				resp, err := http.Get(n.APIURL + "/" + db + "/marker.json")
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						served <- time.Since(start)
						return
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, false, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	took = time.Since(start)
	if resp.StatusCode/100 != 2 {
		return 0, 0, false, fmt.Errorf("%s: %s", resp.Status, raw)
	}
	var ans struct {
		Replicas struct {
			Applied bool `json:"applied"`
		} `json:"replicas"`
	}
	_ = json.Unmarshal(raw, &ans)
	timeout := time.After(importServeWait)
	for range c.Nodes[1:] {
		select {
		case d := <-served:
			everywhere = max(everywhere, d)
		case <-timeout:
			return took, -1, ans.Replicas.Applied, nil
		}
	}
	return took, everywhere, ans.Replicas.Applied, nil
}

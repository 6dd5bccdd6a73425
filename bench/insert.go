package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tablecast/tablecast/internal/rowfile"
)

// DefaultInsertRows is the size of scenario insert's CSV file: the
// issue's goal is 1,000,000 rows at 50,000 rows/s or more, end to end.
const DefaultInsertRows = 1_000_000

// runInsert: `tablecast insert` of a CSV file of o.Rows rows into a real
// cluster, timed end to end (the command's start to its exit, the last
// batch committed on the primary), for each batch size; and the same file
// only read and encoded in this process, for where the time goes.
func runInsert(ctx context.Context, o Options) (*Report, error) {
	rows := o.Rows
	if rows <= 0 {
		rows = DefaultInsertRows
	}
	fmt.Println("starting a local cluster…")
	c, err := startCluster(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	path := filepath.Join(c.dir, "items.csv")
	size, err := writeInsertCSV(path, rows)
	if err != nil {
		return nil, err
	}
	r := &Report{reportHead: newHead("insert", map[string]any{"rows": rows, "bytes": size}), Ratios: map[string]float64{}}

	// The client's share: read and encode the file as the CLI does.
	start := time.Now()
	if err := encodeOnly(path); err != nil {
		return nil, err
	}
	local := time.Since(start)
	localRate := float64(rows) / local.Seconds()
	fmt.Printf("  read + encode only            %9.0f rows/s\n", localRate)
	r.Results = append(r.Results, Result{Name: "read + encode only (client side)", ReqPerS: localRate, Requests: int64(rows)})

	for i, batch := range o.InsertBatches {
		table := fmt.Sprintf("items_%d", i)
		args := []string{"insert", "bench", table, path, "-pk", "id", "-detect-types", "-batch-size", fmt.Sprint(batch),
			"-url", c.Nodes[0].APIURL, "-token", c.Token}
		start := time.Now()
		prof := make(chan error, 1)
		if i == len(o.InsertBatches)-1 && c.Nodes[0].BenchURL != "" {
			// A CPU profile of the primary during the last run: where
			// the server's time goes.
			go func() {
				prof <- saveProfile(ctx, c.Nodes[0].BenchURL, filepath.Join(o.OutDir, r.Date+"-insert-primary.pprof"))
			}()
		} else {
			prof <- nil
		}
		out, err := exec.CommandContext(ctx, filepath.Join(c.dir, "tablecast"), args...).CombinedOutput()
		took := time.Since(start)
		if perr := <-prof; perr != nil {
			fmt.Println("  (no profile of the primary:", perr, ")")
		}
		if err != nil {
			return nil, fmt.Errorf("insert -batch-size %d: %w\n%s", batch, err, out)
		}
		rate := float64(rows) / took.Seconds()
		requests := (rows + batch - 1) / batch
		fmt.Printf("  insert -batch-size %-6d     %9.0f rows/s  (%.1fs, %d requests, %.1f ms each)\n", batch, rate, took.Seconds(), requests, float64(took.Milliseconds())/float64(requests))
		r.Results = append(r.Results, Result{Name: fmt.Sprintf("insert -batch-size %d (end to end)", batch), URL: c.Nodes[0].APIURL,
			ReqPerS: rate, Requests: int64(requests), P50Ms: float64(took.Milliseconds()) / float64(requests)})
		r.Ratios[fmt.Sprintf("rows/s batch %d / goal 50000", batch)] = rate / 50000
		r.Ratios[fmt.Sprintf("client share of the time, batch %d", batch)] = local.Seconds() / took.Seconds()
	}
	r.Notes = append(r.Notes,
		"req/s column: rows per second; p50 ms column: mean time per request (batch) of the end-to-end runs",
		"end to end: `tablecast insert bench TABLE items.csv -pk id -detect-types` (two passes over the file: types, then rows) against the primary of a 3-region dev cluster (real LiteFS, real FUSE), from the command's start to its exit",
		"read + encode only: the same file read with internal/rowfile and encoded as request bodies in this process, nothing sent: the client's share")
	return r, nil
}

// writeInsertCSV writes rows of id, name, score, city, created.
func writeInsertCSV(path string, rows int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	cities := []string{"London", "Sydney", "San José", "Paris, France", "Tokyo"}
	fmt.Fprintln(w, "id,name,score,city,created")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(w, "%d,item %d,%d.%d,\"%s\",2026-12-%02d\n", i, i, i%1000, i%10, cities[i%len(cities)], i%28+1)
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), f.Close()
}

// encodeOnly reads the file twice (types, then rows) and encodes each row
// as JSON, as `tablecast insert -detect-types` does.
func encodeOnly(path string) error {
	var tr rowfile.Tracker
	if err := eachRow(path, func(row *rowfile.Row) { tr.Observe(row) }); err != nil {
		return err
	}
	types := tr.Types()
	var buf []byte
	return eachRow(path, func(row *rowfile.Row) {
		if len(buf) > 1<<20 {
			buf = buf[:0]
		}
		buf = append(buf, '{')
		for i, name := range row.Names {
			buf = rowfile.AppendString(buf, name)
			buf = append(buf, ':')
			buf, _ = rowfile.AppendJSON(buf, row.Values[i], types[i])
		}
		buf = append(buf, '}')
	})
}

func eachRow(path string, fn func(*rowfile.Row)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := rowfile.NewReader(f, path, rowfile.CSV)
	for {
		row, err := r.Next()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		fn(row)
	}
}

// saveProfile saves a 2-second CPU profile of a node (its -bench-addr's
// /debug/pprof/) to path: go tool pprof -top PATH.
func saveProfile(ctx context.Context, benchURL, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(benchURL, "/")+"/debug/pprof/profile?seconds=2", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	fmt.Println("  CPU profile of the primary (2 s of the last run):", path)
	return f.Close()
}

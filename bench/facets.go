package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
)

// facetRows is the size of the faceted table (issue 18: 100,000 rows).
const facetRows = 100000

// facetPath is the measured page: 100 rows and three facets. _nocount and
// _nosuggest are ignored by tablecast (it counts and suggests only when
// asked) and make Datasette skip the same work; the last "1" is the
// random key wrk appends (always 1: one page).
const facetPath = "/bench/pets.json?_size=100&_facet=kind&_facet=region&_facet=status&_nosuggest=1&_nocount="

// runFacets: a page of 100 rows with three facets on a 100,000-row table,
// cached (through the public API) and uncached (the replica's /nocache/
// listener: gate on, cache off), against the bare ceiling; and, when
// DATASETTE_PYPATH names Datasette's sources (scripts/datasette-env.sh),
// Datasette 0.65 serving a copy of the same database file, in the same run.
func runFacets(ctx context.Context, o Options) (*Report, error) {
	fmt.Println("starting a local cluster (real LiteFS and FUSE)…")
	c, err := startCluster(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	fmt.Printf("loading %d rows…\n", facetRows)
	if err := loadPets(ctx, c); err != nil {
		return nil, err
	}
	rep := c.Replica()
	if err := waitOK(ctx, rep.APIURL+"/bench/pets/"+strconv.Itoa(facetRows)+".json", 60*time.Second); err != nil {
		return nil, err
	}
	bare, stopBare, err := serveBare()
	if err != nil {
		return nil, err
	}
	defer stopBare()
	targets := []struct{ name, base, path string }{
		{"bare net/http 200 B", bare, "/x="},
		{"page of 100 + 3 facets, cached", rep.APIURL, facetPath},
		{"page of 100 + 3 facets, no cache", rep.BenchURL, "/nocache" + facetPath},
	}
	notes := []string{"replica " + rep.Name + "; no cache: the replica's bench listener (gate on, cache off), reads through LiteFS FUSE",
		"table pets: 100,000 rows, facets on kind (12 values), region (8), status (4), no indexes on them; facet time limit 200 ms (the default)"}
	ds, stopDS, err := startDatasette(ctx, rep.FUSEDir)
	switch {
	case err != nil:
		notes = append(notes, "Datasette not run: "+err.Error())
	default:
		defer stopDS()
		targets = append(targets, struct{ name, base, path string }{"Datasette 0.65, same page, uncached", ds, facetPath})
		notes = append(notes, "Datasette 0.65.2 (/usr/bin/python3 -m datasette, one process) on a copy of the replica's database file (VACUUM INTO)")
	}
	r := &Report{reportHead: newHead("facets", map[string]any{"duration": o.Duration.String(), "connections": o.Connections, "threads": o.Threads, "rows": facetRows}),
		Ratios: map[string]float64{}, Notes: notes}
	// One request at a time first: how long one uncached page takes, and
	// whether its facets finish within the time limit when nothing else
	// runs.
	for _, t := range targets[2:] {
		ms, timedOut, err := probeFacets(ctx, t.base+t.path+"1", 9)
		if err != nil {
			return nil, err
		}
		r.Notes = append(r.Notes, fmt.Sprintf("%s, one request at a time: median %.1f ms, %d of 9 with a facet timed out", t.name, ms, timedOut))
	}
	// Uncached pages take tens of milliseconds of SQLite each: they are
	// loaded with fewer connections and a 10 s timeout (wrk's 2 s would
	// count queued requests as errors).
	slow := o
	slow.Connections, slow.WrkTimeout = min(o.Connections, 4), 10*time.Second
	// The cached page is read once before its load (a first miss costs
	// what an uncached page does).
	if _, timedOut, err := probeFacets(ctx, rep.APIURL+facetPath+"1", 1); err != nil {
		return nil, err
	} else if timedOut > 0 {
		r.Notes = append(r.Notes, "the cached page's first read had a facet timed out: it is cached for 5 s, then read again")
	}
	fmt.Printf("load: wrk -t%d -c%d (uncached: -c%d), %s per target\n", o.Threads, o.Connections, slow.Connections, o.Duration)
	for i, t := range targets {
		oo := o
		if i >= 2 {
			oo = slow
		}
		res, err := wrkRun(ctx, oo, t.name, t.base, t.path, "", 1)
		if err != nil {
			return nil, err
		}
		r.Results = append(r.Results, res)
	}
	b := r.Results[0].ReqPerS
	for _, x := range r.Results[1:] {
		r.Ratios[x.Name+" / bare"] = x.ReqPerS / b
	}
	if len(r.Results) == 4 {
		r.Ratios["no cache / Datasette"] = r.Results[2].ReqPerS / r.Results[3].ReqPerS
	}
	return r, nil
}

// loadPets creates and publishes bench.pets: facetRows rows whose kind,
// region and status repeat with co-prime periods.
func loadPets(ctx context.Context, c *cluster) error {
	if err := c.Post(ctx, "/bench/-/create", map[string]any{"table": "pets", "pk": "id",
		"columns": []map[string]string{{"name": "id", "type": "integer"}, {"name": "name", "type": "text"},
			{"name": "kind", "type": "text"}, {"name": "region", "type": "text"}, {"name": "status", "type": "text"}, {"name": "age", "type": "integer"}}}); err != nil {
		return err
	}
	kinds := []string{"cat", "dog", "fish", "bird", "horse", "rabbit", "snake", "lizard", "frog", "mouse", "rat", "ferret"}
	regions := []string{"lhr", "syd", "sjc", "fra", "nrt", "gru", "jnb", "ord"}
	statuses := []string{"new", "adopted", "fostered", "returned"}
	for start := 1; start <= facetRows; start += 1000 {
		rows := make([]map[string]any, 0, 1000)
		for i := start; i < start+1000 && i <= facetRows; i++ {
			rows = append(rows, map[string]any{"id": i, "name": fmt.Sprintf("pet %06d", i), "kind": kinds[(i*7)%len(kinds)],
				"region": regions[(i*3)%len(regions)], "status": statuses[(i/7)%len(statuses)], "age": i % 20})
		}
		if err := postRetry(ctx, c, "/bench/pets/-/insert", map[string]any{"rows": rows}); err != nil {
			return err
		}
	}
	return c.Post(ctx, "/bench/pets/-/publish", map[string]any{})
}

// postRetry posts a write, again while the cluster answers 503 (a
// primary that lost its lease on these loaded shared cores wrote nothing,
// and says to retry), for at most a minute.
func postRetry(ctx context.Context, c *cluster, path string, body any) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := c.Post(ctx, path, body)
		if err == nil || !strings.Contains(err.Error(), "503") || time.Now().After(deadline) {
			return err
		}
		fmt.Printf("  %v: retrying\n", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// startDatasette serves a copy of the bench database with Datasette 0.65
// from the sources in DATASETTE_PYPATH (see scripts/datasette-env.sh) and
// returns its base URL.
func startDatasette(ctx context.Context, fuseDir string) (string, func(), error) {
	pypath := os.Getenv("DATASETTE_PYPATH")
	if pypath == "" {
		return "", nil, fmt.Errorf("DATASETTE_PYPATH is not set")
	}
	dir, err := os.MkdirTemp("", "tablecast-bench-datasette-")
	if err != nil {
		return "", nil, err
	}
	file := filepath.Join(dir, "bench.db")
	if err := copyDatabase(ctx, filepath.Join(fuseDir, tablecast.DBFileName("bench")), file); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command("/usr/bin/python3", "-m", "datasette", "serve", file, "-h", "127.0.0.1", "-p", port)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+pypath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	base := "http://127.0.0.1:" + port
	if err := waitOK(ctx, base+"/bench/pets.json?_size=1", 30*time.Second); err != nil {
		stop()
		return "", nil, fmt.Errorf("datasette did not start: %w", err)
	}
	return base, stop, nil
}

// probeFacets asks url n times, one at a time, and returns the median
// time and how many answers named a facet that timed out.
func probeFacets(ctx context.Context, url string, n int) (float64, int, error) {
	var times []float64
	timedOut := 0
	for range n {
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, 0, err
		}
		var body struct {
			FacetResults     json.RawMessage `json:"facet_results"`
			FacetsTimedOut   []string        `json:"facets_timed_out"` // Datasette 0.65
			FacetResultsDone struct {
				TimedOut []string `json:"timed_out"` // tablecast (Datasette 1.0)
			} `json:"-"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return 0, 0, fmt.Errorf("probe %s: %d %v", url, resp.StatusCode, err)
		}
		times = append(times, float64(time.Since(start).Microseconds())/1000)
		_ = json.Unmarshal(body.FacetResults, &body.FacetResultsDone)
		if len(body.FacetsTimedOut)+len(body.FacetResultsDone.TimedOut) > 0 {
			timedOut++
		}
	}
	sort.Float64s(times)
	return times[len(times)/2], timedOut, nil
}

// copyDatabase copies the database at src into a new file dst.
func copyDatabase(ctx context.Context, src, dst string) error {
	db, err := sql.Open("sqlite3", "file:"+src+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

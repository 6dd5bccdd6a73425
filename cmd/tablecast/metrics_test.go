package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/deploy/devcluster"
)

// TestMetrics_ScrapeClusterNodes drives reads, a private 404, a forwarded
// write and a bookmark from the future through a real cluster, then checks
// what the replica's and the primary's /metrics say, and lints both with
// promtool.
func TestMetrics_ScrapeClusterNodes(t *testing.T) {
	c := devcluster.MustStart(t, binPath, nil)
	ctx := context.Background()
	p, r := c.Nodes[0], c.Nodes[1]
	post := func(base, path string, body any) map[string]any {
		t.Helper()
		out, err := postJSON(ctx, base+path, c.Token, body)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	post(p.APIURL, "/shop/-/create", map[string]any{"table": "products", "pk": "id",
		"rows": []map[string]any{{"id": 1, "name": "kettle"}, {"id": 2, "name": "teapot"}}})
	post(p.APIURL, "/shop/-/create", map[string]any{"table": "orders", "pk": "id",
		"rows": []map[string]any{{"id": 1, "email": "secret@example.com"}}})
	post(p.APIURL, "/shop/products/-/publish", map[string]any{})

	devcluster.WaitFor(t, r.APIURL+"/shop/products.json", 200, 10*time.Second)
	for range 3 {
		expectStatus(t, r.APIURL+"/shop/products.json", 200)
	}
	expectStatus(t, r.APIURL+"/shop/products/1.json", 200)
	expectStatus(t, r.APIURL+"/.json", 200)
	expectStatus(t, r.APIURL+"/shop.json", 200)
	expectStatus(t, r.APIURL+"/shop/orders.json", 404)
	expectStatus(t, r.APIURL+"/shop/nosuchtable.json", 404)
	expectStatus(t, r.APIURL+"/shop/orders/1.json", 404)

	// A write sent to the replica is proxied to the primary.
	out := post(r.APIURL, "/shop/products/-/insert", map[string]any{"row": map[string]any{"id": 3, "name": "cup"}})
	txid, err := tablecast.ParseTXID(fmt.Sprint(out["txid"]))
	if err != nil {
		t.Fatalf("insert answer: %v", out)
	}
	devcluster.WaitFor(t, r.APIURL+"/shop/products/3.json", 200, 5*time.Second)

	// A bookmark from the future: the replica waits (bookmark-wait, 2 s),
	// sends the read to the primary, which waits too and refuses it.
	start := time.Now()
	expectStatus(t, r.APIURL+"/shop/products.json?_txid="+(txid+1000).String(), 504)
	t.Logf("future bookmark refused after %s", time.Since(start).Round(time.Millisecond))

	rm := scrapeMetrics(t, r.APIURL, c.Token)
	pm := scrapeMetrics(t, p.APIURL, c.Token)

	t.Run("Replica", func(t *testing.T) {
		m, region := rm, r.Region
		m.atLeast(t, 4, "tablecast_http_requests_total", "route", "table", "status", "200", "region", region)
		m.atLeast(t, 2, "tablecast_http_requests_total", "route", "row", "status", "200", "region", region)
		m.atLeast(t, 1, "tablecast_http_requests_total", "route", "root", "status", "200", "region", region)
		m.atLeast(t, 1, "tablecast_http_requests_total", "route", "database", "status", "200", "region", region)
		m.equal(t, 1, "tablecast_http_requests_total", "route", "write", "status", "201", "region", region)
		m.equal(t, 1, "tablecast_http_requests_total", "route", "table", "status", "504", "region", region)
		m.atLeast(t, 2, "tablecast_public_not_found_total", "route", "table", "region", region)
		// At least: waitFor polls count too, before the data arrives.
		m.atLeast(t, 1, "tablecast_public_not_found_total", "route", "row", "region", region)
		for _, kind := range []string{"table", "row"} {
			m.equal(t, m.get(t, "tablecast_http_requests_total", "route", kind, "status", "404"),
				"tablecast_public_not_found_total", "route", kind)
		}
		m.atLeast(t, 5, "tablecast_http_request_duration_seconds_count", "route", "table", "region", region)
		m.atLeast(t, 1, "tablecast_http_request_duration_seconds_bucket", "route", "table", "le", "+Inf")
		m.equal(t, 1, "tablecast_forwarded_writes_total", "mode", "proxy")
		m.equal(t, 0, "tablecast_proxy_errors_total", "reason", "unreachable")
		m.equal(t, 1, "tablecast_bookmark_waits_total", "outcome", "primary")
		m.equal(t, 0, "tablecast_bookmark_waits_total", "outcome", "served")
		m.equal(t, 0, "tablecast_bookmark_waits_total", "outcome", "refused")
		m.equal(t, 1, "tablecast_bookmark_wait_seconds_count")
		m.atLeast(t, 1.9, "tablecast_bookmark_wait_seconds_sum")
		m.equal(t, 1, "tablecast_stale_reads_total", "cause", "bookmark", "outcome", "primary")
		m.equal(t, 0, "tablecast_stale_reads_total", "cause", "lag", "outcome", "primary")
		m.equal(t, 1, "tablecast_node_info", "name", r.Name, "region", region)
		m.equal(t, 1, "tablecast_ready")
		m.equal(t, 0, "tablecast_is_primary")
		m.equal(t, 1, "tablecast_raft_state", "state", "follower")
		m.equal(t, 0, "tablecast_raft_state", "state", "leader")
		m.atLeast(t, 1, "tablecast_raft_term")
		m.atLeast(t, float64(txid), "tablecast_db_txid", "db", "shop")
		m.between(t, 0, 5, "tablecast_replication_lag_seconds")
		now := float64(time.Now().UnixMilli()) / 1000
		m.between(t, now-120, now+1, "tablecast_db_commit_timestamp_seconds", "db", "shop")
		m.atLeast(t, 1, "tablecast_cache_hits_total")
		m.atLeast(t, 1, "litefs_db_txid", "db", "shop.db") // LiteFS's own, same registry
		m.boundedLabels(t)
	})
	t.Run("Primary", func(t *testing.T) {
		m, region := pm, p.Region
		m.equal(t, 1, "tablecast_is_primary")
		m.equal(t, 1, "tablecast_raft_state", "state", "leader")
		m.equal(t, 0, "tablecast_raft_last_contact_seconds")
		m.equal(t, 0, "tablecast_replication_lag_seconds")
		m.atLeast(t, float64(txid), "tablecast_db_txid", "db", "shop")
		m.equal(t, rm.get(t, "tablecast_raft_term"), "tablecast_raft_term")
		// create ×2, publish, and the insert the replica forwarded.
		m.atLeast(t, 4, "tablecast_http_requests_total", "route", "write", "region", region)
		m.atLeast(t, 3, "tablecast_http_requests_total", "route", "write", "status", "201", "region", region)
		m.equal(t, 0, "tablecast_forwarded_writes_total", "mode", "proxy")
		m.equal(t, 1, "tablecast_bookmark_waits_total", "outcome", "refused")
		m.equal(t, 1, "tablecast_stale_reads_total", "cause", "bookmark", "outcome", "refused")
		m.equal(t, 1, "tablecast_http_requests_total", "route", "table", "status", "504", "region", region)
		m.boundedLabels(t)
	})
	t.Run("DashboardUsesRealMetrics", func(t *testing.T) {
		raw, err := os.ReadFile("../../deploy/grafana/tablecast.json")
		if err != nil {
			t.Fatal(err)
		}
		families := rm.text + pm.text
		for _, name := range dashboardMetric.FindAllString(string(raw), -1) {
			found := strings.Contains(families, "# TYPE "+name+" ")
			for _, series := range []string{"_bucket", "_sum", "_count"} { // a histogram's series
				if base, ok := strings.CutSuffix(name, series); ok && strings.Contains(families, "# TYPE "+base+" histogram") {
					found = true
				}
			}
			if !found {
				t.Errorf("deploy/grafana/tablecast.json queries %s, which no node exports", name)
			}
		}
	})
	t.Run("Promtool", func(t *testing.T) {
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			if os.Getenv("TABLECAST_REQUIRE_PROMTOOL") != "" {
				t.Fatal("promtool not found, and TABLECAST_REQUIRE_PROMTOOL is set (apt-get install prometheus)")
			}
			t.Skip("promtool not installed (apt-get install prometheus): lint skipped")
		}
		for name, m := range map[string]scraped{"replica": rm, "primary": pm} {
			// LiteFS's own metrics break promtool's naming rules
			// (litefs_db_commit_count is a counter without _total): they
			// are LiteFS's names, not ours. Everything else must pass.
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = strings.NewReader(m.text)
			all, _ := cmd.CombinedOutput()
			for _, line := range strings.Split(strings.TrimSpace(string(all)), "\n") {
				if line != "" && !strings.HasPrefix(line, "litefs_") {
					t.Errorf("%s: promtool: %s", name, line)
				}
			}
			cmd = exec.Command(promtool, "check", "metrics")
			cmd.Stdin = strings.NewReader(m.withoutPrefix("litefs_"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s: promtool check metrics (without litefs_*): %v\n%s", name, err, out)
			}
		}
	})
}

// dashboardMetric finds the tablecast metric names a dashboard queries.
var dashboardMetric = regexp.MustCompile(`\btablecast_[a-z_]+[a-z]\b`)

// expectStatus GETs url and checks the status code.
func expectStatus(t *testing.T, url string, want int) {
	t.Helper()
	if status, _, body := get(t, url); status != want {
		t.Fatalf("GET %s: %d, want %d: %v", url, status, want, body)
	}
}

// scraped is one /metrics answer in the text format.
type scraped struct {
	text   string
	series []sample
}

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func scrapeMetrics(t *testing.T, base, token string) scraped {
	t.Helper()
	// The series name databases (ours and LiteFS's): a token is needed.
	if resp, err := http.Get(base + "/metrics"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET %s/metrics without a token: %v %v, want 401", base, resp, err)
	} else {
		resp.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s/metrics: %d %q", base, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	m := scraped{text: string(raw)}
	for _, line := range strings.Split(m.text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			t.Fatalf("%s/metrics: %v", base, err)
		}
		m.series = append(m.series, s)
	}
	return m
}

// parseSample parses `name{a="x",b="y"} value` (no timestamps, as
// client_golang writes it).
func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	sp := strings.LastIndexByte(line, ' ')
	if sp < 0 {
		return s, fmt.Errorf("bad line %q", line)
	}
	v, err := strconv.ParseFloat(line[sp+1:], 64)
	if err != nil {
		return s, fmt.Errorf("bad value in %q", line)
	}
	s.value = v
	head := line[:sp]
	name, rest, hasLabels := strings.Cut(head, "{")
	s.name = name
	if !hasLabels {
		return s, nil
	}
	rest = strings.TrimSuffix(rest, "}")
	for rest != "" {
		k, after, ok := strings.Cut(rest, `="`)
		if !ok {
			return s, fmt.Errorf("bad labels in %q", line)
		}
		var val strings.Builder
		i := 0
		for ; i < len(after) && after[i] != '"'; i++ {
			if after[i] == '\\' && i+1 < len(after) {
				i++
			}
			val.WriteByte(after[i])
		}
		s.labels[k] = val.String()
		rest = strings.TrimPrefix(after[min(i+1, len(after)):], ",")
	}
	return s, nil
}

// find sums the series named name whose labels include every pair given.
func (m scraped) find(name string, pairs ...string) (float64, bool) {
	sum, found := 0.0, false
	for _, s := range m.series {
		if s.name != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(pairs); i += 2 {
			if s.labels[pairs[i]] != pairs[i+1] {
				match = false
			}
		}
		if match {
			sum, found = sum+s.value, true
		}
	}
	return sum, found
}

func (m scraped) get(t *testing.T, name string, pairs ...string) float64 {
	t.Helper()
	v, ok := m.find(name, pairs...)
	if !ok {
		t.Fatalf("no series %s%v", name, pairs)
	}
	return v
}

func (m scraped) equal(t *testing.T, want float64, name string, pairs ...string) {
	t.Helper()
	if v := m.get(t, name, pairs...); v != want {
		t.Errorf("%s%v = %v, want %v", name, pairs, v, want)
	}
}

func (m scraped) atLeast(t *testing.T, want float64, name string, pairs ...string) {
	t.Helper()
	if v := m.get(t, name, pairs...); v < want {
		t.Errorf("%s%v = %v, want at least %v", name, pairs, v, want)
	}
}

func (m scraped) between(t *testing.T, lo, hi float64, name string, pairs ...string) {
	t.Helper()
	if v := m.get(t, name, pairs...); v < lo || v > hi {
		t.Errorf("%s%v = %v, want within [%v, %v]", name, pairs, v, lo, hi)
	}
}

// boundedLabels checks tablecast's labels take only known values: never a
// path, never a table name (private ones included).
func (m scraped) boundedLabels(t *testing.T) {
	t.Helper()
	for _, s := range m.series {
		if !strings.HasPrefix(s.name, "tablecast_") {
			continue
		}
		if k, ok := s.labels["route"]; ok && !slices.Contains(tablecast.RouteLabels, k) {
			t.Errorf("%s: route label %q", s.name, k)
		}
		if st, ok := s.labels["status"]; ok {
			if n, err := strconv.Atoi(st); err != nil || n < 100 || n > 599 {
				t.Errorf("%s: status label %q", s.name, st)
			}
		}
	}
	for _, leak := range []string{"orders", "nosuchtable", "products", "/shop"} {
		if strings.Contains(m.text, leak) {
			t.Errorf("/metrics mentions %q: labels must not carry paths or table names", leak)
		}
	}
}

// withoutPrefix drops the families whose names start with prefix.
func (m scraped) withoutPrefix(prefix string) string {
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(m.text, "\n") {
		name := line
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name = rest
		} else if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name = rest
		}
		if !strings.HasPrefix(name, prefix) {
			b.WriteString(line)
		}
	}
	return b.String()
}

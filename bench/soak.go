package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// soakRows is the size of the table the soak reads.
const soakRows = 20000

// soakScript makes wrk ask for random uncached reads of soak.items: rows
// as JSON and HTML, filtered pages as JSON, CSV and HTML (a random bound
// per request, so most answers are not in the cache and the cache fills
// and evicts), and counts answers by status, printed at the end.
const soakScript = `local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end
function init(args)
  math.randomseed(os.time() * 1000 + (id or 0))
  statuses = {}
end
request = function()
  local r = math.random(1, 100)
  local k = math.random(1, %[1]d)
  local path
  if r <= 30 then
    path = "/soak/items/" .. k .. ".json"
  elseif r <= 40 then
    path = "/soak/items/" .. k
  elseif r <= 70 then
    path = "/soak/items.json?_size=100&id__gt=" .. k
  elseif r <= 85 then
    path = "/soak/items.csv?_size=100&id__gt=" .. k
  else
    path = "/soak/items?_size=50&id__gt=" .. k
  end
  return wrk.format(nil, path)
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= 200 and not sample then
    sample = status .. " " .. string.sub(body, 1, 300)
  end
end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do
      all[k] = (all[k] or 0) + v
    end
  end
  for k, v in pairs(all) do
    io.write(string.format("status %%d %%d\n", k, v))
  end
  for _, t in ipairs(threads) do
    local s = t:get("sample")
    if s then
      io.write("sample " .. string.gsub(s, "\n", " ") .. "\n")
    end
  end
end
`

// SoakReport is scenario soak's results.
type SoakReport struct {
	reportHead
	Nodes   []SoakNode     `json:"nodes"`
	Writes  SoakWrites     `json:"writes"`
	Reads   []SoakReads    `json:"reads"`
	Toggles SoakToggles    `json:"toggles"`
	Cgroup  *SoakCgroup    `json:"cgroup,omitempty"`
	Samples []SoakSample   `json:"samples"`
	Lost    map[string]int `json:"lost_by_node"` // acknowledged writes missing or different, per node
	Failed  []string       `json:"failed"`       // what the soak found wrong
	Notes   []string       `json:"notes"`
}

// SoakNode is one node's resources over the soak.
type SoakNode struct {
	Name           string  `json:"name"`
	Role           string  `json:"role"` // at the start
	PID            int     `json:"pid"`
	InCgroup       bool    `json:"in_cgroup"`
	GoMemLimitMiB  float64 `json:"go_memory_limit_mib"`
	RSSFirstMiB    float64 `json:"rss_first_mib"`
	RSSMaxMiB      float64 `json:"rss_max_mib"`
	RSSFinalMiB    float64 `json:"rss_final_mib"`
	FDsFirst       int     `json:"fds_first"`
	FDsLast        int     `json:"fds_last"`
	GoroutineFirst int     `json:"goroutines_first"`
	GoroutineLast  int     `json:"goroutines_last"`
	Alive          bool    `json:"alive"`
}

// SoakSample is one node's figures at one moment.
type SoakSample struct {
	At         float64 `json:"at_s"` // seconds since the load began
	Node       string  `json:"node"`
	RSSMiB     float64 `json:"rss_mib"`
	FDs        int     `json:"fds"`
	Goroutines int     `json:"goroutines"`
	Error      string  `json:"error,omitempty"`
}

// SoakWrites counts the writes and their answers.
type SoakWrites struct {
	Sent          int            `json:"sent"`
	Acked         int            `json:"acked"`
	Synced        int            `json:"synced"`
	ViaReplica    int            `json:"via_replica"`
	ByStatus      map[string]int `json:"by_status"` // "status gist of the error"; 0: no answer
	PerSecond     float64        `json:"per_second"`
	CheckedOnEach int            `json:"checked_on_each_node"`
}

// SoakReads is one wrk run's figures against a replica.
type SoakReads struct {
	Result
	Node     string         `json:"node"`
	ByStatus map[string]int `json:"by_status"`
	// Refused is an answer other than 200 (status and body), one per wrk
	// thread; Stale is the node's tablecast_stale_reads_total by cause.
	Refused []string           `json:"refused,omitempty"`
	Stale   map[string]float64 `json:"stale_reads,omitempty"`
}

// SoakToggles counts the publish/unpublish toggles.
type SoakToggles struct {
	Done   int            `json:"done"`
	Failed int            `json:"failed"`
	Errors map[string]int `json:"errors,omitempty"`
}

// SoakCgroup is the replica run under a cgroup v1 memory limit.
type SoakCgroup struct {
	Path        string  `json:"path"`
	Node        string  `json:"node"`
	LimitMiB    float64 `json:"limit_mib"`
	MaxUsageMiB float64 `json:"max_usage_mib"`
	FailCnt     int64   `json:"failcnt"`
	OOMKills    int64   `json:"oom_kills"`
	Alive       bool    `json:"alive"`
}

type soakWrite struct {
	id     int64
	value  string
	sync   bool
	acked  bool
	synced bool
}

// runSoak runs the soak: a dev cluster (3 candidates, 2 replicas) under
// writes, toggles and uncached reads for o.Duration, sampling every node's
// resources, then checks every acknowledged write on every node.
func runSoak(ctx context.Context, o Options) (*SoakReport, error) {
	fmt.Println("starting a local cluster (3 candidates, 2 replicas; real LiteFS and FUSE)…")
	c, err := startCluster(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	s := &soakRun{o: o, c: c, r: &SoakReport{reportHead: newHead("soak", map[string]any{"duration": o.Duration.String(), "connections": o.Connections,
		"threads": o.Threads, "rows": soakRows, "writes_per_s": 20, "cgroup_mib": o.CgroupMB, "sample_every": soakSampleEvery.String()}),
		Lost: map[string]int{}}}
	for _, n := range c.Nodes {
		if n.Candidate {
			s.candidates = append(s.candidates, n)
		} else {
			s.replicas = append(s.replicas, n)
		}
	}
	if len(s.replicas) == 0 {
		return nil, errors.New("soak: the cluster has no replica")
	}
	if o.CgroupMB > 0 {
		if s.cg, err = intoCgroup(s.replicas[len(s.replicas)-1], o.CgroupMB); err != nil {
			return nil, err
		}
		defer os.Remove(s.cg.Path) // once the cluster has stopped (deferred before)
		defer c.Stop()
		fmt.Printf("replica %s runs in cgroup %s (memory limit %d MiB)\n", s.cg.Node, s.cg.Path, o.CgroupMB)
	}
	if err := s.setup(ctx); err != nil {
		return nil, err
	}
	s.load(ctx)
	s.check(ctx)
	return s.r, nil
}

// soakRun is one soak: the cluster, its nodes by kind, the report and
// every write sent.
type soakRun struct {
	o                    Options
	c                    *cluster
	r                    *SoakReport
	cg                   *SoakCgroup // nil: no cgroup
	replicas, candidates []devcluster.ClusterNode
	mu                   sync.Mutex // guards r and writes during the load
	writes               []soakWrite
}

// setup loads soak's tables until every replica shows them, and lists the
// nodes in the report.
func (s *soakRun) setup(ctx context.Context) error {
	fmt.Printf("loading %d rows…\n", soakRows)
	if err := loadSoak(ctx, s.c); err != nil {
		return err
	}
	for _, n := range s.replicas {
		if err := waitOK(ctx, fmt.Sprintf("%s/soak/items/%d.json", n.APIURL, soakRows), 60*time.Second); err != nil {
			return err
		}
	}
	for _, n := range s.c.Nodes {
		role := n.Role
		if n.Candidate && role != "primary" {
			role = "candidate"
		}
		sn := SoakNode{Name: n.Name, Role: role, PID: n.PID, InCgroup: s.cg != nil && s.cg.Node == n.Name}
		if v, err := metricValues(ctx, n.APIURL, s.c.Token, "go_gc_gomemlimit_bytes"); err == nil {
			sn.GoMemLimitMiB = v["go_gc_gomemlimit_bytes"] / (1 << 20)
		}
		s.r.Nodes = append(s.r.Nodes, sn)
	}
	return nil
}

// load runs the samples, writes, toggles and reads side by side for
// o.Duration.
func (s *soakRun) load(ctx context.Context) {
	start := time.Now()
	lctx, stopLoad := context.WithTimeout(ctx, s.o.Duration)
	defer stopLoad()
	var wg sync.WaitGroup
	var readErr error
	wg.Add(4)
	go func() { defer wg.Done(); s.sample(lctx, start) }()
	go func() { defer wg.Done(); s.write(ctx, lctx) }()
	go func() { defer wg.Done(); s.toggle(ctx, lctx) }()
	go func() { defer wg.Done(); readErr = s.read(lctx) }()
	fmt.Printf("soak: %s of writes (~20/s), toggles every 10 s and uncached reads on %d replicas; sampling every %s…\n", s.o.Duration, len(s.replicas), soakSampleEvery)
	wg.Wait()
	elapsed := time.Since(start)
	if readErr != nil {
		s.r.Failed = append(s.r.Failed, "reads: "+readErr.Error())
	}
	s.r.Writes.PerSecond = float64(s.r.Writes.Sent) / elapsed.Seconds()
}

// sample samples every node every soakSampleEvery until lctx ends.
func (s *soakRun) sample(lctx context.Context, start time.Time) {
	tick := time.NewTicker(soakSampleEvery)
	defer tick.Stop()
	for {
		for _, n := range s.c.Nodes {
			smp := sampleNode(lctx, n, s.c.Token)
			smp.At = time.Since(start).Seconds()
			s.mu.Lock()
			s.r.Samples = append(s.r.Samples, smp)
			s.mu.Unlock()
		}
		select {
		case <-lctx.Done():
			return
		case <-tick.C:
		}
	}
}

// write sends writes at ~20/s until lctx ends: 60 % through replicas, 25 %
// synchronous. One write per tick, each in its own goroutine: a slow
// synced write does not hold up the rate. A write in flight when the load
// stops gets its answer (under ctx), so that it can be checked.
func (s *soakRun) write(ctx, lctx context.Context) {
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for id := int64(1); ; id++ {
		select {
		case <-lctx.Done():
			return
		case <-tick.C:
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			s.writeOne(ctx, client, id)
		}()
	}
}

// writeOne sends write id to a random node and records its answer.
func (s *soakRun) writeOne(ctx context.Context, client *http.Client, id int64) {
	via := s.candidates[rand.IntN(len(s.candidates))]
	if rand.IntN(100) < 60 {
		via = s.replicas[rand.IntN(len(s.replicas))]
	}
	w := soakWrite{id: id, value: fmt.Sprintf("v%d-%x", id, rand.Uint32()), sync: rand.IntN(100) < 25}
	path := "/soak/w/-/insert"
	if w.sync {
		path += "?_sync=1"
	}
	status, synced, gist := soakPost(ctx, client, via.APIURL+path, s.c.Token, map[string]any{"row": map[string]any{"id": w.id, "v": w.value}})
	w.acked, w.synced = status == http.StatusCreated, synced
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, w)
	r := s.r
	r.Writes.Sent++
	if !via.Candidate {
		r.Writes.ViaReplica++
	}
	if r.Writes.ByStatus == nil {
		r.Writes.ByStatus = map[string]int{}
	}
	key := strconv.Itoa(status)
	if status != http.StatusCreated {
		key += " " + gist
	}
	r.Writes.ByStatus[key]++
}

// toggle unpublishes and publishes soak.flag in turn every 10 s until lctx
// ends.
func (s *soakRun) toggle(ctx, lctx context.Context) {
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-lctx.Done():
			return
		case <-tick.C:
		}
		op := "publish"
		if i%2 == 0 {
			op = "unpublish"
		}
		status, _, gist := soakPost(ctx, client, s.candidates[0].APIURL+"/soak/flag/-/"+op, s.c.Token, map[string]any{})
		s.mu.Lock()
		if t := &s.r.Toggles; status == http.StatusOK {
			t.Done++
		} else {
			t.Failed++
			if t.Errors == nil {
				t.Errors = map[string]int{}
			}
			t.Errors[strconv.Itoa(status)+" "+gist]++
		}
		s.mu.Unlock()
	}
}

// read runs uncached reads on every replica at once with wrk.
func (s *soakRun) read(lctx context.Context) error {
	var rw sync.WaitGroup
	results := make([]SoakReads, len(s.replicas))
	errs := make([]error, len(s.replicas))
	for i, n := range s.replicas {
		rw.Add(1)
		go func() {
			defer rw.Done()
			results[i], errs[i] = soakWrk(lctx, s.o, n, s.c.Token)
		}()
	}
	rw.Wait()
	s.r.Reads = results
	return errors.Join(errs...)
}

// check checks every node is alive, then every acknowledged write on
// every node, and adds the notes.
func (s *soakRun) check(ctx context.Context) {
	r := s.r
	s.checkNodes()
	if err := converge(ctx, s.c); err != nil {
		r.Failed = append(r.Failed, err.Error())
	}
	for _, w := range s.writes {
		if w.acked {
			r.Writes.Acked++
		}
		if w.synced {
			r.Writes.Synced++
		}
	}
	for _, n := range s.c.Nodes {
		s.checkWrites(ctx, n)
	}
	r.Writes.CheckedOnEach = r.Writes.Acked
	r.Notes = append(r.Notes,
		"reads: wrk against each replica at once, random rows (JSON 30 %, HTML 10 %) and pages of 100 after a random id (JSON 30 %, CSV 15 %) and of 50 as HTML (15 %): mostly cache misses, the cache full and evicting",
		"writes: one insert every 50 ms into soak.w, 60 % sent to a replica (forwarded to the primary), 25 % with _sync=1; every acknowledged one is read back from every node at the end",
		"RSS from /proc/PID/status VmRSS, fds from /proc/PID/fd, goroutines from /metrics go_goroutines, the Go memory limit from go_gc_gomemlimit_bytes")
	if s.cg != nil {
		r.Notes = append(r.Notes, "the cgroup replica was moved into its cgroup right after it started: its Go memory limit was set at start from the machine's memory (the default, 192 MiB + 2 x cache-bytes), not from the cgroup's")
	}
}

// checkNodes records whether every node still runs and its resources'
// first, last and highest samples, and the cgroup's counters.
func (s *soakRun) checkNodes() {
	r := s.r
	for i := range r.Nodes {
		n := &r.Nodes[i]
		n.Alive = syscall.Kill(n.PID, 0) == nil && !zombie(n.PID)
		if !n.Alive {
			r.Failed = append(r.Failed, n.Name+" is not running")
		}
		first, last := true, SoakSample{}
		for _, smp := range r.Samples {
			if smp.Node != n.Name || smp.Error != "" {
				continue
			}
			if first {
				n.RSSFirstMiB, n.FDsFirst, n.GoroutineFirst, first = smp.RSSMiB, smp.FDs, smp.Goroutines, false
			}
			n.RSSMaxMiB = max(n.RSSMaxMiB, smp.RSSMiB)
			last = smp
		}
		n.RSSFinalMiB, n.FDsLast, n.GoroutineLast = last.RSSMiB, last.FDs, last.Goroutines
	}
	if cg := s.cg; cg != nil {
		cg.readCounters()
		cg.Alive = slices.ContainsFunc(r.Nodes, func(n SoakNode) bool { return n.InCgroup && n.Alive })
		r.Cgroup = cg
		if cg.OOMKills > 0 || !cg.Alive {
			r.Failed = append(r.Failed, fmt.Sprintf("replica %s in the %0.f MiB cgroup: alive %v, OOM kills %d", cg.Node, cg.LimitMiB, cg.Alive, cg.OOMKills))
		}
	}
}

// checkWrites counts the acknowledged writes missing or different on n.
func (s *soakRun) checkWrites(ctx context.Context, n devcluster.ClusterNode) {
	r := s.r
	rows, err := readSoakRows(ctx, n.APIURL, s.c.Token)
	if err != nil {
		r.Failed = append(r.Failed, fmt.Sprintf("read soak.w on %s: %v", n.Name, err))
		return
	}
	r.Lost[n.Name] = 0
	for _, w := range s.writes {
		if got, ok := rows[w.id]; w.acked && (!ok || got != w.value) {
			r.Lost[n.Name]++
		}
	}
	if r.Lost[n.Name] > 0 {
		r.Failed = append(r.Failed, fmt.Sprintf("%d acknowledged writes missing or different on %s", r.Lost[n.Name], n.Name))
	}
}

const soakSampleEvery = 5 * time.Second

// intoCgroup makes a cgroup v1 memory cgroup limited to mib MiB and moves
// node n into it.
func intoCgroup(n devcluster.ClusterNode, mib int) (*SoakCgroup, error) {
	root := "/sys/fs/cgroup/memory"
	if _, err := os.Stat(filepath.Join(root, "memory.limit_in_bytes")); err != nil {
		return nil, fmt.Errorf("-cgroup-mb: no cgroup v1 memory controller at %s (use -cgroup-mb 0): %w", root, err)
	}
	cg := &SoakCgroup{Path: filepath.Join(root, fmt.Sprintf("tablecast-soak-%d", os.Getpid())), Node: n.Name, LimitMiB: float64(mib)}
	if err := os.Mkdir(cg.Path, 0o755); err != nil {
		return nil, fmt.Errorf("make cgroup: %w", err)
	}
	for _, f := range []struct{ name, value string }{
		{"memory.limit_in_bytes", strconv.Itoa(mib << 20)},
		{"cgroup.procs", strconv.Itoa(n.PID)},
	} {
		if err := os.WriteFile(filepath.Join(cg.Path, f.name), []byte(f.value), 0o644); err != nil {
			_ = os.Remove(cg.Path)
			return nil, fmt.Errorf("cgroup %s: %w", f.name, err)
		}
	}
	return cg, nil
}

// readCounters reads the cgroup's failure count, peak usage and OOM kills.
func (cg *SoakCgroup) readCounters() {
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(cg.Path, name))
		return strings.TrimSpace(string(b))
	}
	cg.FailCnt, _ = strconv.ParseInt(read("memory.failcnt"), 10, 64)
	peak, _ := strconv.ParseFloat(read("memory.max_usage_in_bytes"), 64)
	cg.MaxUsageMiB = peak / (1 << 20)
	for _, line := range strings.Split(read("memory.oom_control"), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			cg.OOMKills, _ = strconv.ParseInt(v, 10, 64)
		}
	}
}

// loadSoak creates soak.items (soakRows rows), soak.w (the writes) and
// soak.flag (the toggled table), all public.
func loadSoak(ctx context.Context, c *cluster) error {
	if err := c.Post(ctx, "/soak/-/create", map[string]any{"table": "items", "pk": "id",
		"columns": []map[string]string{{"name": "id", "type": "integer"}, {"name": "name", "type": "text"}, {"name": "price", "type": "float"}, {"name": "note", "type": "text"}}}); err != nil {
		return err
	}
	for start := 1; start <= soakRows; start += 1000 {
		rows := make([]map[string]any, 0, 1000)
		for i := start; i < start+1000 && i <= soakRows; i++ {
			rows = append(rows, map[string]any{"id": i, "name": fmt.Sprintf("item %05d", i), "price": float64(i) / 100,
				"note": strings.Repeat(fmt.Sprintf("note %d ", i), 8)})
		}
		if err := c.Post(ctx, "/soak/items/-/insert", map[string]any{"rows": rows}); err != nil {
			return err
		}
	}
	for _, step := range []struct {
		path string
		body any
	}{
		{"/soak/items/-/publish", map[string]any{}},
		{"/soak/-/create", map[string]any{"table": "w", "pk": "id", "columns": []map[string]string{{"name": "id", "type": "integer"}, {"name": "v", "type": "text"}}}},
		{"/soak/w/-/publish", map[string]any{}},
		{"/soak/-/create", map[string]any{"table": "flag", "pk": "id", "rows": []any{map[string]any{"id": 1, "v": "x"}}}},
	} {
		if err := c.Post(ctx, step.path, step.body); err != nil {
			return err
		}
	}
	return nil
}

// soakPost sends a write and returns its status (0: no answer), whether
// it was answered "synced": true, and the gist of a refusal's error.
func soakPost(ctx context.Context, client *http.Client, u, token string, body any) (int, bool, string) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(string(b)))
	if err != nil {
		return 0, false, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, false, "no answer"
	}
	defer resp.Body.Close()
	var out struct {
		Synced bool   `json:"synced"`
		Error  string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	// The gist: no TXIDs, positions or details after a colon.
	gist, _, _ := strings.Cut(out.Error, " at TXID")
	gist, _, _ = strings.Cut(gist, ":")
	return resp.StatusCode, out.Synced, gist
}

var (
	reStatusLine = regexp.MustCompile(`(?m)^status (\d+) (\d+)$`)
	reSampleLine = regexp.MustCompile(`(?m)^sample (.*)$`)
)

// labelledMetric reads every series of one metric from api's /metrics,
// keyed by its labels.
func labelledMetric(ctx context.Context, api, token, name string) (map[string]float64, error) {
	resp, err := getAuthed(ctx, http.DefaultClient, api+"/metrics", token)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s %v", api, resp.Status, err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		i := strings.LastIndexByte(rest, ' ')
		if !ok || i < 0 || !strings.HasPrefix(rest, "{") && i != 0 {
			continue
		}
		labels, v := rest[:i], rest[i+1:]
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[labels] = f
		}
	}
	return out, nil
}

// soakWrk loads replica n with soakScript until ctx ends.
func soakWrk(ctx context.Context, o Options, n devcluster.ClusterNode, token string) (SoakReads, error) {
	out := SoakReads{Node: n.Name, ByStatus: map[string]int{}}
	script := filepath.Join(os.TempDir(), fmt.Sprintf("tablecast-soak-%d-%s.lua", os.Getpid(), n.Name))
	if err := os.WriteFile(script, []byte(fmt.Sprintf(soakScript, soakRows)), 0o644); err != nil {
		return out, err
	}
	defer os.Remove(script)
	deadline, _ := ctx.Deadline()
	secs := max(1, int(time.Until(deadline).Seconds()))
	conns := max(1, o.Connections/2)
	args := []string{"-t", "1", "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", secs), "--latency", "--timeout", "10s", "-s", script, n.APIURL + "/soak/items/1.json"}
	// wrk stops by itself at the deadline: not tied to ctx, so that its
	// figures come out.
	b, err := exec.Command("wrk", args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("wrk on %s: %w\n%s", n.Name, err, b)
	}
	res, err := parseWrk(string(b))
	if err != nil {
		return out, err
	}
	res.Name, res.URL = "uncached mix on "+n.Name, n.APIURL+"/soak/items…"
	out.Result = res
	for _, m := range reStatusLine.FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.Atoi(m[2])
		out.ByStatus[m[1]] += v
	}
	for _, m := range reSampleLine.FindAllStringSubmatch(string(b), -1) {
		out.Refused = append(out.Refused, m[1])
	}
	out.Stale, _ = labelledMetric(context.WithoutCancel(ctx), n.APIURL, token, "tablecast_stale_reads_total")
	fmt.Printf("  %-36s %9.0f req/s  p50 %.3f ms  p99 %.3f ms  by status %v\n", res.Name, res.ReqPerS, res.P50Ms, res.P99Ms, out.ByStatus)
	return out, nil
}

// sampleNode reads a node's RSS and fds from /proc and its goroutines
// from /metrics.
func sampleNode(ctx context.Context, n devcluster.ClusterNode, token string) SoakSample {
	s := SoakSample{Node: n.Name}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.PID))
	if err != nil {
		s.Error = err.Error()
		return s
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			s.RSSMiB = kb / 1024
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", n.PID))
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.FDs = len(fds)
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	v, err := metricValues(mctx, n.APIURL, token, "go_goroutines")
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Goroutines = int(v["go_goroutines"])
	return s
}

// zombie reports whether pid has exited and waits to be reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}

// converge waits (up to 60 s) until every node has the same TXID of soak.
func converge(ctx context.Context, c *cluster) error {
	deadline := time.Now().Add(60 * time.Second)
	var txids []string
	for time.Now().Before(deadline) {
		txids = txids[:0]
		for _, n := range c.Nodes {
			t, err := statusTXID(ctx, http.DefaultClient, n.APIURL, c.Token, "soak")
			if err != nil {
				txids = append(txids, "?")
				continue
			}
			txids = append(txids, t.String())
		}
		if !slices.Contains(txids, "?") && len(slices.Compact(slices.Clone(txids))) == 1 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nodes did not converge on soak within 60 s: %v", txids)
}

// readSoakRows reads every row of soak.w from one node, page by page.
func readSoakRows(ctx context.Context, base, token string) (map[int64]string, error) {
	rows := map[int64]string{}
	next := ""
	for {
		u := base + "/soak/w.json?_size=1000"
		if next != "" {
			u += "&_next=" + url.QueryEscape(next)
		}
		resp, err := getAuthed(ctx, http.DefaultClient, u, token)
		if err != nil {
			return nil, err
		}
		var body struct {
			Rows []struct {
				ID int64  `json:"id"`
				V  string `json:"v"`
			} `json:"rows"`
			Next *string `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return nil, fmt.Errorf("GET %s: %s %v", u, resp.Status, err)
		}
		for _, r := range body.Rows {
			rows[r.ID] = r.V
		}
		if body.Next == nil || len(body.Rows) == 0 {
			return rows, nil
		}
		next = *body.Next
	}
}

// Write saves the soak report as JSON and Markdown.
func (r *SoakReport) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return saveReport(filepath.Join(dir, r.Date+"-"+r.Scenario), r, r.Markdown())
}

// Markdown renders the soak report.
func (r *SoakReport) Markdown() string {
	s := fmt.Sprintf("# soak (%s)\n\n%s\n\nSettings: %v\n", r.Date, r.Machine, r.Settings)
	s += "\n| node | role | Go memory limit MiB | RSS first MiB | RSS max MiB | RSS final MiB | fds first → last | goroutines first → last | alive |\n|---|---|---|---|---|---|---|---|---|\n"
	for _, n := range r.Nodes {
		name := n.Name
		if n.InCgroup {
			name += " (cgroup)"
		}
		s += fmt.Sprintf("| %s | %s | %.0f | %.0f | %.0f | %.0f | %d → %d | %d → %d | %v |\n", name, n.Role, n.GoMemLimitMiB,
			n.RSSFirstMiB, n.RSSMaxMiB, n.RSSFinalMiB, n.FDsFirst, n.FDsLast, n.GoroutineFirst, n.GoroutineLast, n.Alive)
	}
	w := r.Writes
	s += fmt.Sprintf("\nWrites: %d sent (%.1f/s, %d through replicas), %d acknowledged (%d synced), answers by status %v; every acknowledged write checked on every node, missing or different: %v.\n",
		w.Sent, w.PerSecond, w.ViaReplica, w.Acked, w.Synced, w.ByStatus, r.Lost)
	s += fmt.Sprintf("\nToggles (publish/unpublish soak.flag every 10 s): %d done, %d failed %v.\n", r.Toggles.Done, r.Toggles.Failed, r.Toggles.Errors)
	if len(r.Reads) > 0 {
		s += "\n| reads | req/s | p50 ms | p99 ms | requests | answers by status |\n|---|---|---|---|---|---|\n"
		for _, x := range r.Reads {
			s += fmt.Sprintf("| %s | %.0f | %.2f | %.2f | %d | %v |\n", x.Name, x.ReqPerS, x.P50Ms, x.P99Ms, x.Requests, x.ByStatus)
		}
		for _, x := range r.Reads {
			if len(x.Refused) > 0 || len(x.Stale) > 0 {
				s += fmt.Sprintf("\n%s: stale reads refused by cause %v; refusals seen: %q\n", x.Node, x.Stale, x.Refused)
			}
		}
	}
	if cg := r.Cgroup; cg != nil {
		s += fmt.Sprintf("\nCgroup v1 %s: %s limited to %.0f MiB; peak usage %.0f MiB, memory.failcnt %d, OOM kills %d, alive at the end: %v.\n",
			cg.Path, cg.Node, cg.LimitMiB, cg.MaxUsageMiB, cg.FailCnt, cg.OOMKills, cg.Alive)
	}
	if len(r.Failed) == 0 {
		s += "\nResult: no node exited, every acknowledged write on every node.\n"
	} else {
		s += "\nResult: FAILED:\n"
		for _, f := range r.Failed {
			s += "\n- " + f
		}
		s += "\n"
	}
	for _, n := range r.Notes {
		s += "\n- " + n
	}
	return s + "\n"
}

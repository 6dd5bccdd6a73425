package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/deploy/devcluster"
)

// TestConsistency_RandomizedReplicaReads is the black-box check of the read
// path (the gate and the response cache) on a real cluster.
//
// RandomizedReads: one sequential writer makes random inserts, upserts,
// deletes and publish/unpublish toggles on the primary and records, after
// each write, SQLite's own answer at the TXID the write returned (read from
// the primary's FUSE mount). Meanwhile readers hammer both replicas (and the
// primary) with page, next_url, row, database and /.json reads, a third of
// them conditional on an ETag they were given; every answer (a 304 stands
// for the answer it confirms) is checked against the recorded state at the
// TXID in its Tablecast-Txid header: exact rows, exact pages, private
// tables answering exactly as a table that does not exist, no TXID from
// the future.
//
// PrivateAsMissing_*: a database with no public table answers
// as one that does not exist, and a write to a private table changes
// nothing a visitor sees of it, headers included.
//
// TABLECAST_CONSISTENCY_SEED=n replays the writer's and readers' choices
// (the interleaving is up to the scheduler).
func TestConsistency_RandomizedReplicaReads(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("TABLECAST_CONSISTENCY_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("TABLECAST_CONSISTENCY_SEED: %v", err)
		}
	}
	t.Logf("seed %d (TABLECAST_CONSISTENCY_SEED=%d to replay the choices)", seed, seed)
	started := time.Now()

	c := devcluster.MustStart(t, binPath, nil)
	prim := c.Nodes[0]
	t.Logf("cluster up in %s", time.Since(started).Round(time.Millisecond))

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(prim.FUSEDir, tablecast.DBFileName(rndDB))+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	defer db.Close()

	hist := &rndHistory{}
	w := &rndWriter{
		primaryURL: prim.APIURL, token: c.Token, db: db, hist: hist,
		rng: rand.New(rand.NewSource(seed)), nextID: map[string]int64{}, ops: map[string]int{},
	}

	// 1. Setup: the tables, with a few rows each, none public yet.
	for _, tb := range rndTables {
		var cols []map[string]string
		for _, col := range tb.cols {
			cols = append(cols, map[string]string{"name": col.name, "type": col.typ})
		}
		var rows []map[string]any
		for range 3 + w.rng.Intn(6) {
			rows = append(rows, w.newRow(tb, w.freshID(tb.name), true))
		}
		if _, err := w.write("/"+rndDB+"/-/create", map[string]any{"table": tb.name, "columns": cols, "pk": "id", "rows": rows}, false); err != nil {
			t.Fatal(err)
		}
	}
	waitReplicasTXID(t, c, hist.last())
	replica := c.Nodes[1].APIURL
	// What a missing table ("ghost", never created) answers in rnd, with
	// no public table and then with some: a private table must answer so.
	var tmpl rndTemplates
	tmpl.none = fetchRndTemplates(t, replica, false)
	t.Run("PrivateAsMissing_NoPublicTable", func(t *testing.T) {
		// A database with no public table answers as one that does not exist.
		for _, p := range [][2]string{
			{"/rnd/alpha.json?_size=3", "/nosuchdb/alpha.json?_size=3"},
			{"/rnd/alpha/1.json", "/nosuchdb/alpha/1.json"},
			{"/rnd/ghost.json", "/nosuchdb/ghost.json"},
			{"/rnd.json", "/nosuchdb.json"},
		} {
			assertSameAnswer(t, replica, p[0], p[1], "rnd", "nosuchdb")
		}
	})
	for _, name := range []string{"alpha", "beta"} {
		if _, err := w.write("/"+rndDB+"/"+name+"/-/publish", map[string]any{}, false); err != nil {
			t.Fatal(err)
		}
	}
	waitReplicasTXID(t, c, hist.last())
	tmpl.some = fetchRndTemplates(t, replica, true)
	t.Run("PrivateAsMissing_SomePublic", func(t *testing.T) {
		for _, p := range [][2]string{
			{"/rnd/delta.json?_size=3", "/rnd/ghost.json?_size=3"},
			{"/rnd/delta/1.json", "/rnd/ghost/1.json"},
		} {
			assertSameAnswer(t, replica, p[0], p[1], "delta", "ghost")
		}
		// A write to a private table changes nothing a visitor can see
		// of it, just as nothing changes for a table that does not exist.
		pairs := [][2]string{{"/rnd/delta.json?_size=3", "/rnd/ghost.json?_size=3"}, {"/rnd/delta/1.json", "/rnd/ghost/1.json"}}
		before := map[string]http.Header{}
		for _, p := range pairs {
			for _, path := range p {
				_, h, _ := get(t, replica+path)
				before[path] = h
			}
		}
		if _, err := w.write("/"+rndDB+"/delta/-/upsert", map[string]any{"row": map[string]any{"id": 1, "secret": "changed", "level": 7}}, false); err != nil {
			t.Fatal(err)
		}
		waitReplicasTXID(t, c, hist.last())
		for _, p := range pairs {
			var changed [2]bool
			var desc [2]string
			for i, path := range p {
				_, h, _ := get(t, replica+path)
				b := before[path]
				changed[i] = b.Get("ETag") != h.Get("ETag")
				desc[i] = fmt.Sprintf("GET %s: ETag %s at Tablecast-Txid %s, then %s at %s", path, b.Get("ETag"), b.Get(tablecast.HeaderTXID), h.Get("ETag"), h.Get(tablecast.HeaderTXID))
			}
			if changed[0] != changed[1] {
				t.Errorf("a write to private table delta is visible:\n\t%s\n\t%s (does not exist)", desc[0], desc[1])
			}
		}
	})
	setupTXID := hist.last()

	t.Run("RandomizedReads", func(t *testing.T) {
		// 2-3. The writer and the readers, concurrently.
		client := &http.Client{
			Timeout:       10 * time.Second,
			Transport:     &http.Transport{MaxIdleConnsPerHost: 32, DisableCompression: true},
			CheckRedirect: noRedirect.CheckRedirect,
		}
		defer client.CloseIdleConnections()
		chk := &rndChecker{hist: hist, tmpl: tmpl, checks: map[string]int{}, windowed: map[string]int{}}
		targets := []*rndTarget{{name: c.Nodes[1].Name, url: c.Nodes[1].APIURL, weight: 4}, {name: c.Nodes[2].Name, url: c.Nodes[2].APIURL, weight: 4}, {name: prim.Name + " (primary)", url: prim.APIURL, weight: 1}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var readers sync.WaitGroup
		const nReaders = 3
		for i := range nReaders {
			r := &rndReader{client: client, chk: chk, targets: targets, writer: w, rng: rand.New(rand.NewSource(seed + int64(i) + 1)), seen: map[string]rndSeen{}}
			readers.Go(func() { r.run(ctx) })
		}

		writeStart := time.Now()
		const maxWrites, writeFor = 300, 9 * time.Second
		var writeErr error
		for i := 0; i < maxWrites && time.Since(writeStart) < writeFor; i++ {
			if writeErr = w.randomOp(); writeErr != nil {
				break
			}
			time.Sleep(time.Duration(2+w.rng.Intn(4)) * time.Millisecond)
		}
		writeTook := time.Since(writeStart)
		cancel()
		readers.Wait()
		if writeErr != nil {
			t.Errorf("writer stopped: %v", writeErr)
		}

		// Every node converges on the last write, and serves it exactly.
		final := hist.last()
		for _, tg := range targets {
			if err := waitNodeTXID(tg.url, c.Token, final, 10*time.Second); err != nil {
				t.Errorf("%s: %v", tg.name, err)
				continue
			}
			for _, tb := range append(rndTableNames(), "ghost") {
				chk.check(tg.do(client, rndReq{route: "final table page", path: "/" + rndDB + "/" + tb + ".json?_size=1000", table: tb, after: math.MinInt64, size: 1000}, hist))
			}
			chk.check(tg.do(client, rndReq{route: "database", path: "/" + rndDB + ".json"}, hist))
		}
		chk.finish()

		// 5. Report.
		t.Logf("writes: %d in %s (%v), TXIDs %s..%s, final public tables %v", w.nWrites, writeTook.Round(time.Millisecond), w.ops, setupTXID, final, hist.at(final).publicNames())
		routes := make([]string, 0, len(chk.checks))
		for r := range chk.checks {
			routes = append(routes, r)
		}
		sort.Strings(routes)
		total := 0
		for _, r := range routes {
			total += chk.checks[r]
			if n := chk.windowed[r]; n > 0 {
				t.Logf("checked %-45s %5d (%d without a TXID: right at some TXID the node may have read)", r, chk.checks[r], n)
			} else {
				t.Logf("checked %-45s %5d", r, chk.checks[r])
			}
		}
		t.Logf("checked %d responses in all (%d for tables private at their TXID, %d of them while rnd had no public table); %d waited for the writer to record their TXID",
			total, chk.privateChecks, chk.noPublicCheck, chk.deferredN)
		for _, tg := range targets {
			t.Logf("%s: max observed lag %d TXIDs, %d responses", tg.name, tg.maxLag.Load(), tg.n.Load())
		}
		t.Logf("test took %s", time.Since(started).Round(time.Millisecond))

		for i, m := range chk.mismatches {
			if i == 20 {
				t.Errorf("… and %d more mismatches", len(chk.mismatches)-20)
				break
			}
			t.Error(m)
		}
		if len(chk.mismatches) > 0 || chk.privateRows > 0 || chk.privateListed > 0 {
			t.Errorf("%d mismatches, %d private rows served, %d private tables listed", len(chk.mismatches), chk.privateRows, chk.privateListed)
		}
		if total < 1000 {
			t.Errorf("only %d responses checked: the readers did not get going", total)
		}
	})
}

const rndDB = "rnd"

type rndColumn struct{ name, typ string }

type rndTable struct {
	name string
	cols []rndColumn // cols[0] is the integer primary key "id"
}

var rndTables = []rndTable{
	{"alpha", []rndColumn{{"id", "integer"}, {"name", "text"}, {"qty", "integer"}}},
	{"beta", []rndColumn{{"id", "integer"}, {"label", "text"}, {"score", "float"}}},
	{"gamma", []rndColumn{{"id", "integer"}, {"note", "text"}, {"flag", "integer"}}},
	{"delta", []rndColumn{{"id", "integer"}, {"secret", "text"}, {"level", "integer"}}},
}

func rndTableNames() []string {
	var names []string
	for _, tb := range rndTables {
		names = append(names, tb.name)
	}
	return names
}

// rndRow is one row: its id and its canonical JSON (sorted keys).
type rndRow struct {
	id   int64
	json string
}

// rndState is SQLite's own answer at one TXID.
type rndState struct {
	txid   tablecast.TXID
	public map[string]bool
	rows   map[string][]rndRow // ordered by id
}

func (s *rndState) publicNames() []string {
	var names []string
	for n := range s.public {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// after returns the rows with id > after, in id order.
func (s *rndState) after(table string, after int64) []rndRow {
	rows := s.rows[table]
	i := sort.Search(len(rows), func(i int) bool { return rows[i].id > after })
	return rows[i:]
}

func (s *rndState) row(table string, id int64) (rndRow, bool) {
	rows := s.rows[table]
	i := sort.Search(len(rows), func(i int) bool { return rows[i].id >= id })
	if i < len(rows) && rows[i].id == id {
		return rows[i], true
	}
	return rndRow{}, false
}

// rndHistory holds the recorded states in TXID order. The state at any
// TXID t is the one of the largest recorded TXID <= t: the writer is the
// only writer, and (checked) each of its writes is one transaction.
type rndHistory struct {
	mu       sync.RWMutex
	states   []*rndState
	inflight bool // a write is on its way: its TXID may already be served
}

func (h *rndHistory) record(s *rndState) {
	h.mu.Lock()
	h.states = append(h.states, s)
	h.inflight = false
	h.mu.Unlock()
}

func (h *rndHistory) setInflight(v bool) {
	h.mu.Lock()
	h.inflight = v
	h.mu.Unlock()
}

func (h *rndHistory) last() tablecast.TXID {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if len(h.states) == 0 {
		return 0
	}
	return h.states[len(h.states)-1].txid
}

// bound is the largest TXID that may exist now: the last recorded one,
// plus one while a write is in flight.
func (h *rndHistory) bound() tablecast.TXID {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var b tablecast.TXID
	if len(h.states) > 0 {
		b = h.states[len(h.states)-1].txid
	}
	if h.inflight {
		b++
	}
	return b
}

// at returns the state at t, nil if t is before the first recorded TXID.
// The caller makes sure t <= last().
func (h *rndHistory) at(t tablecast.TXID) *rndState {
	h.mu.RLock()
	defer h.mu.RUnlock()
	i := sort.Search(len(h.states), func(i int) bool { return h.states[i].txid > t })
	if i == 0 {
		return nil
	}
	return h.states[i-1]
}

// span returns the states at every TXID in [lo, hi].
func (h *rndHistory) span(lo, hi tablecast.TXID) []*rndState {
	h.mu.RLock()
	defer h.mu.RUnlock()
	i := sort.Search(len(h.states), func(i int) bool { return h.states[i].txid > lo })
	if i > 0 {
		i--
	}
	var out []*rndState
	for ; i < len(h.states) && h.states[i].txid <= hi; i++ {
		out = append(out, h.states[i])
	}
	return out
}

// rndWriter is the single sequential writer.
type rndWriter struct {
	primaryURL, token string
	db                *sql.DB
	hist              *rndHistory
	rng               *rand.Rand
	nextID            map[string]int64
	maxID             atomic.Int64
	ops               map[string]int
	nWrites           int
	cur               *rndState
}

func (w *rndWriter) freshID(table string) int64 {
	w.nextID[table]++
	id := w.nextID[table]
	if id > w.maxID.Load() {
		w.maxID.Store(id)
	}
	return id
}

// newRow makes a row of tb with id; full gives every column a value,
// otherwise only one of them (the other stays null, or as it was).
func (w *rndWriter) newRow(tb rndTable, id int64, full bool) map[string]any {
	row := map[string]any{"id": id}
	skip := -1
	if !full {
		skip = 1 + w.rng.Intn(len(tb.cols)-1)
	}
	for i, col := range tb.cols[1:] {
		if i+1 == skip {
			continue
		}
		switch {
		case w.rng.Intn(12) == 0:
			row[col.name] = nil
		case col.typ == "text":
			row[col.name] = fmt.Sprintf("%s#%d/%d", tb.name, id, w.nWrites)
		case col.typ == "integer":
			row[col.name] = w.rng.Intn(100000) - 500
		case col.typ == "float":
			row[col.name] = float64(w.rng.Intn(40000)-1000) / 8
		}
	}
	return row
}

// write posts body to the primary, then records SQLite's answer at the
// TXID it returned. sequential asks that the TXID be the previous one + 1.
func (w *rndWriter) write(path string, body any, sequential bool) (tablecast.TXID, error) {
	prev := w.hist.last()
	w.hist.setInflight(true)
	out, err := postJSON(context.Background(), w.primaryURL+path, w.token, body)
	if err != nil {
		return 0, err
	}
	s, _ := out["txid"].(string)
	txid, err := tablecast.ParseTXID(s)
	if err != nil || len(s) != 16 {
		return 0, fmt.Errorf("POST %s: txid %q: %v", path, s, err)
	}
	if txid <= prev || (sequential && txid != prev+1) {
		return 0, fmt.Errorf("POST %s answered txid %s after %s: want %s (one write, one transaction)", path, txid, prev, prev+1)
	}
	st, err := w.readState(txid)
	if err != nil {
		return 0, fmt.Errorf("after POST %s (txid %s): %w", path, txid, err)
	}
	w.cur = st
	w.hist.record(st)
	w.nWrites++
	return txid, nil
}

// readState reads every table and _public_tables from the primary's FUSE
// mount, then checks the primary is still at txid: the only writer is us,
// so what was read is the database at txid.
func (w *rndWriter) readState(txid tablecast.TXID) (*rndState, error) {
	ctx := context.Background()
	st := &rndState{txid: txid, public: map[string]bool{}, rows: map[string][]rndRow{}}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	rs, err := tx.QueryContext(ctx, `SELECT table_name FROM `+tablecast.QuoteIdent(tablecast.PublicTablesTable))
	if err != nil {
		return nil, err
	}
	for rs.Next() {
		var name string
		if err := rs.Scan(&name); err != nil {
			rs.Close()
			return nil, err
		}
		if !slices.Contains(rndTableNames(), name) {
			rs.Close()
			return nil, fmt.Errorf("unexpected table %q in _public_tables", name)
		}
		st.public[name] = true
	}
	if err := rs.Close(); err != nil {
		return nil, err
	}
	exists := map[string]bool{}
	rs, err = tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return nil, err
	}
	for rs.Next() {
		var name string
		if err := rs.Scan(&name); err != nil {
			rs.Close()
			return nil, err
		}
		exists[name] = true
	}
	if err := rs.Close(); err != nil {
		return nil, err
	}
	for _, tb := range rndTables {
		if !exists[tb.name] { // during setup
			continue
		}
		var names []string
		for _, col := range tb.cols {
			names = append(names, tablecast.QuoteIdent(col.name))
		}
		rs, err := tx.QueryContext(ctx, `SELECT `+strings.Join(names, ", ")+` FROM `+tablecast.QuoteIdent(tb.name)+` ORDER BY id`)
		if err != nil {
			return nil, err
		}
		for rs.Next() {
			vals := make([]any, len(tb.cols))
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				rs.Close()
				return nil, err
			}
			row := map[string]any{}
			for i, col := range tb.cols {
				if b, ok := vals[i].([]byte); ok {
					vals[i] = string(b)
				}
				row[col.name] = vals[i]
				if f, ok := vals[i].(float64); ok {
					// As the read path writes a real: 3.0, not 3.
					row[col.name] = json.RawMessage(tablecast.AppendJSONValue(nil, f))
				}
			}
			id, _ := vals[0].(int64)
			b, err := json.Marshal(row)
			if err != nil {
				rs.Close()
				return nil, err
			}
			st.rows[tb.name] = append(st.rows[tb.name], rndRow{id: id, json: string(b)})
		}
		if err := rs.Close(); err != nil {
			return nil, err
		}
	}
	_ = tx.Rollback()
	now, err := nodeTXID(w.primaryURL, w.token)
	if err != nil {
		return nil, err
	}
	if now != txid {
		return nil, fmt.Errorf("primary at txid %s after reading the state of %s: the state read is not the state at %s", now, txid, txid)
	}
	return st, nil
}

// randomOp makes one random write.
func (w *rndWriter) randomOp() error {
	tb := rndTables[w.rng.Intn(len(rndTables))]
	base := "/" + rndDB + "/" + tb.name
	existing := w.cur.rows[tb.name]
	switch r := w.rng.Intn(100); {
	case r < 30 || (r < 55 && len(existing) == 0): // insert 1-3 new rows
		var rows []map[string]any
		for range 1 + w.rng.Intn(3) {
			id := w.freshID(tb.name)
			if w.rng.Intn(3) == 0 { // reuse an id no row has now
				cand := 1 + w.rng.Int63n(w.nextID[tb.name])
				if _, ok := w.cur.row(tb.name, cand); !ok && !slices.ContainsFunc(rows, func(m map[string]any) bool { return m["id"] == cand }) {
					id = cand
				}
			}
			rows = append(rows, w.newRow(tb, id, w.rng.Intn(4) != 0))
		}
		w.ops["insert"]++
		_, err := w.write(base+"/-/insert", map[string]any{"rows": rows}, true)
		return err
	case r < 55: // upsert 1-2 rows, mostly existing ones
		var rows []map[string]any
		for range 1 + w.rng.Intn(2) {
			id := existing[w.rng.Intn(len(existing))].id
			if w.rng.Intn(4) == 0 {
				id = w.freshID(tb.name)
			}
			if slices.ContainsFunc(rows, func(m map[string]any) bool { return m["id"] == id }) {
				continue
			}
			rows = append(rows, w.newRow(tb, id, w.rng.Intn(2) == 0))
		}
		w.ops["upsert"]++
		_, err := w.write(base+"/-/upsert", map[string]any{"rows": rows}, true)
		return err
	case r < 75 && len(existing) > 0: // delete
		id := existing[w.rng.Intn(len(existing))].id
		w.ops["delete"]++
		_, err := w.write(base+"/"+strconv.FormatInt(id, 10)+"/-/delete", map[string]any{}, true)
		return err
	default: // toggle
		action := "publish"
		if w.cur.public[tb.name] {
			action = "unpublish"
		}
		w.ops[action]++
		_, err := w.write(base+"/-/"+action, map[string]any{}, true)
		return err
	}
}

// nodeTXID reads a node's TXID of rnd from /-/status.json.
func nodeTXID(base, token string) (tablecast.TXID, error) {
	req, _ := http.NewRequest(http.MethodGet, base+"/-/status.json", nil)
	req.Header.Set("Authorization", "Bearer "+token) // TXIDs are shown only with a token
	resp, err := noRedirect.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		TXIDs map[string]string `json:"txids"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("%s/-/status.json: %w", base, err)
	}
	s, ok := st.TXIDs[rndDB]
	if !ok {
		return 0, nil
	}
	return tablecast.ParseTXID(s)
}

// waitReplicasTXID waits until every replica has reached txid.
func waitReplicasTXID(t *testing.T, c *devcluster.Cluster, txid tablecast.TXID) {
	t.Helper()
	for _, n := range c.Nodes[1:] {
		if err := waitNodeTXID(n.APIURL, c.Token, txid, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// waitNodeTXID polls a node's status until it has reached txid.
func waitNodeTXID(base, token string, txid tablecast.TXID, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last tablecast.TXID
	var err error
	for time.Now().Before(deadline) {
		if last, err = nodeTXID(base, token); err == nil && last >= txid {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%s at txid %s (err %v), want %s after %s", base, last, err, txid, timeout)
}

// rndTemplates are what rnd answers for a table that was never created
// ("ghost"), with its name replaced by rndPlaceholder: a private table must
// answer exactly so. none is measured while rnd has no public table, some
// while it has.
type rndTemplates struct{ none, some rndRegime }

type rndRegime struct {
	page, row  rndTemplate
	describe   rndTemplate // /rnd.json; none only (some answers 200)
	missingRow rndTemplate // a row that does not exist in a public table; some only
}

type rndTemplate struct {
	body    string // canonical JSON
	hasTXID bool   // carries Tablecast-Txid
}

const rndPlaceholder = "\x00NAME\x00"

func (tp rndTemplate) with(name string) string {
	return strings.ReplaceAll(tp.body, rndPlaceholder, name)
}

func fetchRndTemplates(t *testing.T, base string, somePublic bool) rndRegime {
	t.Helper()
	one := func(path, name string) rndTemplate {
		t.Helper()
		status, h, body := get(t, base+path)
		if status != http.StatusNotFound {
			t.Fatalf("GET %s: %d %v, want 404", path, status, body)
		}
		tp := rndTemplate{body: canonical(body), hasTXID: h.Get(tablecast.HeaderTXID) != ""}
		if name != "" {
			tp.body = strings.ReplaceAll(tp.body, name, rndPlaceholder)
		}
		return tp
	}
	r := rndRegime{
		page: one("/"+rndDB+"/ghost.json?_size=3", "ghost"),
		row:  one("/"+rndDB+"/ghost/1.json", "ghost"),
	}
	if somePublic {
		r.missingRow = one("/"+rndDB+"/alpha/987654321.json", "")
	} else {
		r.describe = one("/"+rndDB+".json", "")
	}
	return r
}

// assertSameAnswer checks path answers exactly as other, a path to
// something that does not exist, once name is substituted for otherName:
// status, body, and which of Tablecast-Txid and ETag it carries.
func assertSameAnswer(t *testing.T, base, path, other, name, otherName string) {
	t.Helper()
	s1, h1, b1 := get(t, base+path)
	s2, h2, b2 := get(t, base+other)
	got, want := canonical(b1), strings.ReplaceAll(canonical(b2), otherName, name)
	if s1 != s2 || got != want {
		t.Errorf("GET %s: %d %s\n\tGET %s (does not exist): %d %s", path, s1, got, other, s2, canonical(b2))
	}
	for _, hdr := range []string{tablecast.HeaderTXID, "ETag"} {
		if v1, v2 := h1.Get(hdr), h2.Get(hdr); (v1 != "") != (v2 != "") {
			t.Errorf("GET %s: %s %q, but GET %s (does not exist): %s %q: a visitor can tell them apart", path, hdr, v1, other, hdr, v2)
		}
	}
}

// rndTarget is a node the readers read from.
type rndTarget struct {
	name, url string
	weight    int
	maxSeen   atomic.Uint64 // largest TXID this node has answered with
	maxLag    atomic.Uint64
	n         atomic.Int64
}

// rndReq is one read to make.
type rndReq struct {
	route, path, table string
	id                 int64  // row route
	after              int64  // page routes: rows with id > after
	size               int    // page routes
	ifNoneMatch        string // an ETag the reader has, with its answer
}

// rndObs is one answer, with what is needed to check it.
type rndObs struct {
	rndReq
	node   string
	status int
	header string // Tablecast-Txid
	etag   string
	body   []byte
	err    error
	lo, hi tablecast.TXID // the node was at >= lo when asked; nothing > hi existed when it answered
}

// do sends one GET and records the answer.
func (tg *rndTarget) do(client *http.Client, rq rndReq, hist *rndHistory) *rndObs {
	o := &rndObs{rndReq: rq, node: tg.name}
	o.lo = tablecast.TXID(tg.maxSeen.Load())
	req, err := http.NewRequest(http.MethodGet, tg.url+rq.path, nil)
	if err != nil {
		o.err = err
		return o
	}
	if rq.ifNoneMatch != "" {
		req.Header.Set("If-None-Match", rq.ifNoneMatch)
	}
	resp, err := client.Do(req)
	if err != nil {
		o.err = err
		return o
	}
	o.body, o.err = io.ReadAll(resp.Body)
	resp.Body.Close()
	o.hi = hist.bound()
	last := hist.last()
	o.status = resp.StatusCode
	o.header = resp.Header.Get(tablecast.HeaderTXID)
	o.etag = resp.Header.Get("ETag")
	tg.n.Add(1)
	if t, err := tablecast.ParseTXID(o.header); err == nil {
		atomicMax(&tg.maxSeen, uint64(t))
		if t < last {
			atomicMax(&tg.maxLag, uint64(last-t))
		}
	}
	return o
}

func atomicMax(a *atomic.Uint64, v uint64) {
	for {
		m := a.Load()
		if v <= m || a.CompareAndSwap(m, v) {
			return
		}
	}
}

// rndReader sends random reads to random targets until ctx ends.
type rndReader struct {
	client  *http.Client
	chk     *rndChecker
	targets []*rndTarget
	writer  *rndWriter
	rng     *rand.Rand
	seen    map[string]rndSeen // target + path: the last answer with an ETag
}

type rndSeen struct {
	etag   string
	status int
	body   []byte
}

func (r *rndReader) pick() *rndTarget {
	total := 0
	for _, tg := range r.targets {
		total += tg.weight
	}
	n := r.rng.Intn(total)
	for _, tg := range r.targets {
		if n < tg.weight {
			return tg
		}
		n -= tg.weight
	}
	return r.targets[0]
}

// do makes one read, sometimes conditional on an ETag it was given for the
// same URL before; a 304 is checked as the answer it stands for.
func (r *rndReader) do(tg *rndTarget, rq rndReq) *rndObs {
	key := tg.name + " " + rq.path
	prev, ok := r.seen[key]
	if ok && r.rng.Intn(3) == 0 {
		rq.ifNoneMatch = prev.etag
		rq.route += " (If-None-Match)"
	}
	o := tg.do(r.client, rq, r.chk.hist)
	switch {
	case o.err != nil:
	case o.status == http.StatusNotModified && rq.ifNoneMatch == "":
		o.err = errors.New("304 to a request without If-None-Match")
	case o.status == http.StatusNotModified && o.etag != rq.ifNoneMatch:
		o.err = fmt.Errorf("304 with ETag %s to If-None-Match %s", o.etag, rq.ifNoneMatch)
	case o.status == http.StatusNotModified:
		o.route = strings.TrimSuffix(o.route, " (If-None-Match)") + " (304)"
		o.status, o.body = prev.status, prev.body
	case o.etag != "":
		r.seen[key] = rndSeen{etag: o.etag, status: o.status, body: o.body}
	}
	r.chk.check(o)
	return o
}

func (r *rndReader) run(ctx context.Context) {
	names := append(rndTableNames(), "ghost") // ghost never exists
	for ctx.Err() == nil {
		tg := r.pick()
		table := names[r.rng.Intn(len(names))]
		switch n := r.rng.Intn(20); {
		case n < 9: // a page, and maybe the pages after it
			size := 1 + r.rng.Intn(6)
			if r.rng.Intn(10) == 0 {
				size = 1000
			}
			o := r.do(tg, rndReq{route: "table page", path: "/" + rndDB + "/" + table + ".json?_size=" + strconv.Itoa(size), table: table, after: math.MinInt64, size: size})
			for pages := 0; pages < 4 && r.rng.Intn(3) != 0 && ctx.Err() == nil; pages++ {
				next, after, ok := nextPage(o)
				if !ok {
					break
				}
				o = r.do(tg, rndReq{route: "table page via next_url", path: next, table: table, after: after, size: size})
			}
		case n < 17: // a row
			id := 1 + r.rng.Int63n(r.writer.maxID.Load()+3)
			r.do(tg, rndReq{route: "row", path: "/" + rndDB + "/" + table + "/" + strconv.FormatInt(id, 10) + ".json", table: table, id: id})
		case n < 19:
			r.do(tg, rndReq{route: "database", path: "/" + rndDB + ".json"})
		default:
			r.do(tg, rndReq{route: "root /.json", path: "/.json"})
		}
	}
}

// pathOf is the path and query of an absolute next_url (as Datasette's,
// its host the one the request named), "" for none.
func pathOf(v any) string {
	s, _ := v.(string)
	u, err := url.Parse(s)
	if s == "" || err != nil || !u.IsAbs() {
		return s
	}
	return u.RequestURI()
}

// nextPage returns the next_url of a page answer and the id its rows
// continue after.
func nextPage(o *rndObs) (string, int64, bool) {
	if o.err != nil || o.status != http.StatusOK {
		return "", 0, false
	}
	m, err := decodeRnd(o.body)
	if err != nil {
		return "", 0, false
	}
	next := pathOf(m["next_url"])
	rows, _ := m["rows"].([]any)
	if next == "" || len(rows) == 0 {
		return "", 0, false
	}
	last, _ := rows[len(rows)-1].(map[string]any)
	n, _ := last["id"].(json.Number)
	id, err := n.Int64()
	if err != nil {
		return "", 0, false
	}
	return next, id, true
}

func decodeRnd(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// canonical is v as JSON with sorted keys.
func canonical(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// rndChecker checks answers against the recorded states.
type rndChecker struct {
	hist *rndHistory
	tmpl rndTemplates

	mu            sync.Mutex
	checks        map[string]int // per route
	windowed      map[string]int // per route: answers without a TXID
	mismatches    []string
	privateRows   int
	privateListed int
	privateChecks int // answers for a table private at their TXID
	noPublicCheck int // of which while rnd had no public table
	deferred      []*rndObs
	deferredN     int
}

// check checks o now, or once the writer has recorded the state it needs.
func (c *rndChecker) check(o *rndObs) {
	need := o.hi
	if t, err := tablecast.ParseTXID(o.header); err == nil && t < need {
		need = t
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o.err == nil && need > c.hist.last() {
		c.deferred = append(c.deferred, o)
		c.deferredN++
		return
	}
	c.checkLocked(o)
}

// finish checks the answers that waited for the writer. Call it once
// every reader and the writer have stopped.
func (c *rndChecker) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.deferred {
		c.checkLocked(o)
	}
	c.deferred = nil
}

func (c *rndChecker) fail(o *rndObs, format string, args ...any) {
	body := string(o.body)
	if len(body) > 700 {
		body = body[:700] + "…"
	}
	cond := ""
	if o.ifNoneMatch != "" {
		cond = " If-None-Match: " + o.ifNoneMatch
	}
	c.mismatches = append(c.mismatches, fmt.Sprintf("%s GET %s%s [%s]: %s\n\tgot %d Tablecast-Txid=%q ETag=%s (node was at >= %s when asked, no TXID > %s existed when it answered): %s",
		o.node, o.path, cond, o.route, fmt.Sprintf(format, args...), o.status, o.header, o.etag, o.lo, o.hi, strings.TrimSpace(body)))
}

func (c *rndChecker) checkLocked(o *rndObs) {
	c.checks[o.route]++
	if o.err != nil {
		c.fail(o, "request failed: %v", o.err)
		return
	}
	if o.header == "" {
		// No TXID to check against: the answer must be right at some
		// TXID the node may have read.
		if o.status == http.StatusOK && o.route != "root /.json" {
			c.fail(o, "200 without a Tablecast-Txid header")
			return
		}
		c.windowed[o.route]++
		var first error
		for _, s := range c.hist.span(o.lo, o.hi) {
			err := c.verify(o, s, false)
			if err == nil {
				return
			}
			if first == nil {
				first = fmt.Errorf("at %s: %w", s.txid, err)
			}
		}
		c.fail(o, "answer without a TXID is right at no TXID from %s to %s; first: %v", o.lo, o.hi, first)
		return
	}
	t, err := tablecast.ParseTXID(o.header)
	if err != nil || len(o.header) != 16 {
		c.fail(o, "Tablecast-Txid is not 16 hex digits")
		return
	}
	if t > o.hi {
		c.fail(o, "served from the future: TXID %s, but no write past %s had been sent", t, o.hi)
		return
	}
	s := c.hist.at(t)
	if s == nil {
		c.fail(o, "TXID %s is before the test's first write", t)
		return
	}
	if err := c.verify(o, s, true); err != nil {
		c.fail(o, "at %s (state of write %s): %v", t, s.txid, err)
	}
}

var errRndLeak = errors.New("PRIVATE DATA SERVED")

// verify checks o against state s; count says whether to count leaks.
func (c *rndChecker) verify(o *rndObs, s *rndState, count bool) error {
	route := strings.Fields(o.route)[0]
	switch route {
	case "root":
		return c.verifyRoot(o, s)
	case "database":
		return c.verifyDatabase(o, s, count)
	}
	if !s.public[o.table] {
		return c.verifyPrivate(o, s, count)
	}
	if route == "row" {
		want, ok := s.row(o.table, o.id)
		if !ok {
			tp := c.tmpl.some.missingRow
			if err := c.verify404(o, tp.body, tp.hasTXID); err != nil {
				return fmt.Errorf("row %d of %s does not exist: %w", o.id, o.table, err)
			}
			return nil
		}
		m, err := c.okBody(o)
		if err != nil {
			return fmt.Errorf("row %d of %s: %v; want %s", o.id, o.table, err, want.json)
		}
		rows, _ := m["rows"].([]any)
		if len(rows) != 1 || canonical(rows[0]) != want.json {
			return fmt.Errorf("row %d of %s: want rows [%s]", o.id, o.table, want.json)
		}
		return nil
	}
	// A page: the first o.size rows after o.after.
	all := s.after(o.table, o.after)
	want := all[:min(len(all), o.size)]
	m, err := c.okBody(o)
	if err != nil {
		return fmt.Errorf("%s (want %d rows after id %s)", err, len(want), afterString(o.after))
	}
	rows, _ := m["rows"].([]any)
	if len(rows) != len(want) {
		return fmt.Errorf("%d rows, want %d (ids %v) after id %s", len(rows), len(want), rowIDs(want), afterString(o.after))
	}
	for i, r := range rows {
		if got := canonical(r); got != want[i].json {
			return fmt.Errorf("row %d is %s, want %s", i, got, want[i].json)
		}
	}
	next := pathOf(m["next_url"])
	if more := len(all) > o.size; more != (next != "") || more != (m["next"] != nil) {
		return fmt.Errorf("next_url %q next %v, but %d rows follow this page's %d", next, m["next"], len(all)-len(want), len(want))
	}
	if next != "" && !strings.HasPrefix(next, "/"+rndDB+"/"+o.table+".json?") {
		return fmt.Errorf("next_url %q is not of this table", next)
	}
	return nil
}

// verifyPrivate checks the answer for a table private at s: exactly what
// a table that does not exist answers.
func (c *rndChecker) verifyPrivate(o *rndObs, s *rndState, count bool) error {
	regime := c.tmpl.some
	if len(s.public) == 0 {
		regime = c.tmpl.none
	}
	tp := regime.page
	if strings.HasPrefix(o.route, "row") {
		tp = regime.row
	}
	want := tp.with(o.table)
	if count {
		c.privateChecks++
		if len(s.public) == 0 {
			c.noPublicCheck++
		}
	}
	if o.status == http.StatusOK {
		if count {
			m, _ := decodeRnd(o.body)
			rows, _ := m["rows"].([]any)
			c.privateRows += len(rows)
		}
		return fmt.Errorf("%w: table %s is private (public: %v), want 404 %s", errRndLeak, o.table, s.publicNames(), want)
	}
	if err := c.verify404(o, want, tp.hasTXID); err != nil {
		return fmt.Errorf("table %s is private (public: %v), want the answer of a table that does not exist: %w", o.table, s.publicNames(), err)
	}
	return nil
}

// verify404 checks o is a 404 with body want, carrying Tablecast-Txid
// when hasTXID.
func (c *rndChecker) verify404(o *rndObs, want string, hasTXID bool) error {
	if o.status != http.StatusNotFound {
		return fmt.Errorf("status %d, want 404 %s", o.status, want)
	}
	m, err := decodeRnd(o.body)
	if err != nil {
		return fmt.Errorf("body not JSON: %v", err)
	}
	if got := canonical(m); got != want {
		return fmt.Errorf("body %s, want %s", got, want)
	}
	if (o.header != "") != hasTXID {
		return fmt.Errorf("Tablecast-Txid present=%v, want %v", o.header != "", hasTXID)
	}
	return nil
}

// okBody decodes a 200 answer and checks ok (and txid, if it has one).
func (c *rndChecker) okBody(o *rndObs) (map[string]any, error) {
	if o.status != http.StatusOK {
		return nil, fmt.Errorf("status %d, want 200", o.status)
	}
	m, err := decodeRnd(o.body)
	if err != nil {
		return nil, fmt.Errorf("body not JSON: %v", err)
	}
	if m["ok"] != true {
		return nil, errors.New(`no "ok":true`)
	}
	if txid, ok := m["txid"]; ok && txid != o.header {
		return nil, fmt.Errorf("body txid %v, header %q", txid, o.header)
	}
	return m, nil
}

func (c *rndChecker) verifyDatabase(o *rndObs, s *rndState, count bool) error {
	if len(s.public) == 0 {
		tp := c.tmpl.none.describe
		if o.status == http.StatusOK && count {
			c.privateListed++
		}
		if err := c.verify404(o, tp.body, tp.hasTXID); err != nil {
			return fmt.Errorf("no public table: %w", err)
		}
		return nil
	}
	m, err := c.okBody(o)
	if err != nil {
		return fmt.Errorf("%v; want public tables %v", err, s.publicNames())
	}
	tables, _ := m["tables"].([]any)
	var got []string
	for _, x := range tables {
		tb, _ := x.(map[string]any)
		name, _ := tb["name"].(string)
		got = append(got, name)
		if !s.public[name] {
			if count {
				c.privateListed++
			}
			return fmt.Errorf("%w: lists %s, public tables are %v", errRndLeak, name, s.publicNames())
		}
		n, _ := tb["count"].(json.Number)
		if cnt, err := n.Int64(); err != nil || cnt != int64(len(s.rows[name])) {
			return fmt.Errorf("%s count %v, want %d", name, tb["count"], len(s.rows[name]))
		}
		var wantCols []string
		for _, tbl := range rndTables {
			if tbl.name == name {
				for _, col := range tbl.cols {
					wantCols = append(wantCols, col.name)
				}
			}
		}
		if gc := canonical(tb["columns"]); gc != canonical(wantCols) {
			return fmt.Errorf("%s columns %s, want %s", name, gc, canonical(wantCols))
		}
	}
	if !slices.Equal(got, s.publicNames()) {
		return fmt.Errorf("lists %v, want %v", got, s.publicNames())
	}
	return nil
}

// verifyRoot checks /.json lists rnd exactly when it has a public table.
func (c *rndChecker) verifyRoot(o *rndObs, s *rndState) error {
	if o.status != http.StatusOK {
		return fmt.Errorf("status %d, want 200", o.status)
	}
	m, err := decodeRnd(o.body)
	if err != nil {
		return fmt.Errorf("body not JSON: %v", err)
	}
	dbs, _ := m["databases"].([]any)
	var count int64 = -1
	for _, x := range dbs {
		d, _ := x.(map[string]any)
		if d["name"] == rndDB {
			n, _ := d["tables_count"].(json.Number)
			count, _ = n.Int64()
		}
	}
	switch {
	case len(s.public) == 0 && count != -1:
		return fmt.Errorf("lists %s with %d tables, but it has no public table", rndDB, count)
	case len(s.public) > 0 && count != int64(len(s.public)):
		return fmt.Errorf("%s has %d public tables (%v), listed with %d (-1: not listed)", rndDB, len(s.public), s.publicNames(), count)
	}
	return nil
}

func afterString(after int64) string {
	if after == math.MinInt64 {
		return "(start)"
	}
	return strconv.FormatInt(after, 10)
}

func rowIDs(rows []rndRow) []int64 {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.id
	}
	return ids
}

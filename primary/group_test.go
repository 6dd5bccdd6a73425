package primary

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
)

// holdWrites starts a write to db that holds its transaction open until
// the returned release is called, and waits until it runs. Writes sent
// meanwhile queue for the next transaction. done gives its TXID.
func holdWrites(t *testing.T, e *testEnv, db string) (h *handle, release func(), done <-chan tablecast.TXID) {
	t.Helper()
	h, err := e.w.open(db, false)
	if err != nil {
		t.Fatal(err)
	}
	started, hold := make(chan struct{}), make(chan struct{})
	out := make(chan tablecast.TXID, 1)
	go func() {
		txid, err := e.w.write(context.Background(), db, h, func(tx *sql.Tx) error {
			close(started)
			<-hold
			return bumpVersions(context.Background(), tx, "notes")
		})
		if err != nil {
			t.Error(err)
		}
		out <- txid
	}()
	<-started
	return h, func() { close(hold) }, out
}

// waitQueued polls until n writes wait in h's queue (5 s at most).
func waitQueued(t *testing.T, h *handle, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.queue.mu.Lock()
		got := len(h.queue.waiting)
		h.queue.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
}

// Writes that queue behind a commit share the next transaction: each is
// answered after its COMMIT with its TXID, a failing one alone fails and
// leaves nothing, and the write counter counts the transaction once.
func TestWriter_GroupCommit(t *testing.T) {
	e := newZooEnv(t)
	h, release, first := holdWrites(t, e, "zoo")
	// The held write is queued (it leads) until it commits.
	bodies := []struct {
		path, body string
		status     int
	}{
		{"/zoo/dogs/-/insert", `{"row": {"id": 10, "name": "a"}}`, http.StatusCreated},
		{"/zoo/dogs/-/insert", `{"row": {"id": 1, "name": "duplicate"}}`, http.StatusBadRequest},
		{"/zoo/dogs/2/-/update", `{"update": {"name": "b"}}`, http.StatusOK},
		{"/zoo/dogs/-/insert", `{"row": {"id": 11, "colour": "red"}, "alter": true}`, http.StatusCreated},
		{"/zoo/dogs/-/insert", `{"row": {"id": 12, "colour": 5}}`, http.StatusBadRequest}, // colour is not there yet when it runs, or is text
		{"/zoo/pairs/-/drop", `{"confirm": true}`, http.StatusOK},
	}
	recs := make([]*httptest.ResponseRecorder, len(bodies))
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs[i] = e.post(b.path, b.body)
		}()
		waitQueued(t, h, i+1) // in this order
	}
	release()
	wg.Wait()
	held := <-first
	for i, b := range bodies {
		if recs[i].Code != b.status {
			t.Errorf("%s %s: %d %s, want %d", b.path, b.body, recs[i].Code, recs[i].Body, b.status)
		}
		got := recs[i].Header().Get(tablecast.HeaderTXID)
		if want := (held + 1).String(); b.status < 300 && got != want {
			t.Errorf("%s: TXID %q, want the group's %s", b.body, got, want)
		} else if b.status >= 300 && got != "" {
			t.Errorf("%s: a failed write answered with TXID %s", b.body, got)
		}
	}
	if got := e.queryString("zoo", `SELECT id, name, colour FROM dogs ORDER BY id`); got != "1|Cleo|<nil>\n2|b|<nil>\n10|a|<nil>\n11|<nil>|red" {
		t.Errorf("rows\n%s", got)
	}
	if got := e.queryString("zoo", `SELECT count(*) FROM sqlite_master WHERE name = 'pairs'`); got != "0" {
		t.Errorf("pairs not dropped")
	}
	if got := e.queryString("zoo", `SELECT version FROM _table_versions WHERE table_name = ''`); got != fmt.Sprint(uint64(held+1)) {
		t.Errorf("write counter %s, want %d: one per transaction", got, held+1)
	}
}

// A write whose failure ends the whole transaction (here, it rolls it
// back itself) fails its group: nothing of any of them is written.
func TestWriter_GroupCommit_Aborted(t *testing.T) {
	e := newZooEnv(t)
	h, release, first := holdWrites(t, e, "zoo")
	errs := make([]error, 3)
	fns := []func(*sql.Tx) error{
		func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO notes (body) VALUES ('lost')`)
			return errors.Join(err, bumpVersions(context.Background(), tx, "notes"))
		},
		func(tx *sql.Tx) error {
			_, err := tx.Exec(`ROLLBACK`)
			return errors.Join(err, errors.New("gone"))
		},
		func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO notes (body) VALUES ('never')`)
			return errors.Join(err, bumpVersions(context.Background(), tx, "notes"))
		},
	}
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.w.write(context.Background(), "zoo", h, fn)
		}()
		waitQueued(t, h, i+1)
	}
	release()
	wg.Wait()
	held := <-first
	for i, err := range errs {
		if i != 1 && tablecast.ErrorCode(err) != tablecast.EUNAVAILABLE {
			t.Errorf("write %d: %v, want the group's rollback (503)", i, err)
		} else if i == 1 && err == nil {
			t.Errorf("the failing write succeeded")
		}
	}
	if got := e.queryString("zoo", `SELECT count(*) FROM notes`); got != "0" {
		t.Errorf("%s notes written", got)
	}
	if got := e.queryString("zoo", `SELECT version FROM _table_versions WHERE table_name = ''`); got != fmt.Sprint(uint64(held)) {
		t.Errorf("write counter %s, want %d", got, held)
	}
	// The database takes writes again.
	e.mustPost("/zoo/notes/-/insert", `{"row": {"body": "later"}}`, http.StatusCreated)
}

// A write whose client left while it waited is not run.
func TestWriter_GroupCommit_ClientLeft(t *testing.T) {
	e := newZooEnv(t)
	h, release, first := holdWrites(t, e, "zoo")
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	for i, c := range []context.Context{ctx, context.Background()} {
		go func() {
			_, err := e.w.write(c, "zoo", h, func(tx *sql.Tx) error {
				_, err := tx.Exec(`INSERT INTO notes (body) VALUES (?)`, fmt.Sprint("n", i))
				return errors.Join(err, bumpVersions(context.Background(), tx, "notes"))
			})
			errs <- err
		}()
		waitQueued(t, h, i+1)
	}
	cancel()
	release()
	<-first
	var failed int
	for range 2 {
		if err := <-errs; err != nil {
			failed++
			if tablecast.ErrorCode(err) != tablecast.EUNAVAILABLE {
				t.Errorf("left write: %v", err)
			}
		}
	}
	if got := e.queryString("zoo", `SELECT body FROM notes`); failed != 1 || got != "n1" {
		t.Errorf("%d failed, notes %q: want the left write alone not written", failed, got)
	}
}

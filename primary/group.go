package primary

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// Group commit. A commit through LiteFS costs about three fsyncs (SQLite's
// WAL, LiteFS's LTX file and its folder: LiteFS syncs them before the
// unlock that ends SQLite's COMMIT returns), so one database commits at
// most ~100 times a second here however many clients write (measured:
// bench -scenario writes). Writes that arrive while a commit is under way
// queue; the next transaction runs all of them, each in its own savepoint
// (a write that fails is rolled back alone, and answered alone), and one
// COMMIT makes them durable together: each is acknowledged only after that
// COMMIT, as before, and they share its TXID. A write that arrives alone
// runs alone, exactly as without grouping.

// maxGroup bounds the writes of one transaction: the first of a group
// waits for the others' statements.
const maxGroup = 32

// commitQueue is a database's writes waiting for a transaction. The
// writer that finds it idle leads: it runs the waiting writes as one
// transaction, answers them, and hands the lead to the first write that
// queued meanwhile.
type commitQueue struct {
	mu      sync.Mutex
	waiting []*pendingWrite
	leading bool
}

// pendingWrite is one write waiting for its transaction.
type pendingWrite struct {
	ctx  context.Context
	fn   func(*sql.Tx) error
	done chan writeOutcome // buffered: the leader never blocks on it
	out  writeOutcome
}

// writeOutcome answers a pendingWrite: its TXID or error, or that it
// leads the next transaction.
type writeOutcome struct {
	txid tablecast.TXID
	err  error
	lead bool
}

// errGroupAborted answers the writes of a transaction that one write's
// failure left unusable (SQLite rolls a whole transaction back on some
// errors, e.g. an interrupted statement): nothing of it was written.
var errGroupAborted = tablecast.Errorf(tablecast.EUNAVAILABLE, "Database is busy: the transaction was rolled back, nothing was written, retry")

// enqueue adds p; it reports whether p leads (the queue was idle).
func (q *commitQueue) enqueue(p *pendingWrite) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiting = append(q.waiting, p)
	if q.leading {
		return false
	}
	q.leading = true
	return true
}

// take removes the next group, up to maxGroup writes in arrival order.
func (q *commitQueue) take() []*pendingWrite {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.waiting), maxGroup)
	batch := q.waiting[:n:n]
	q.waiting = append([]*pendingWrite(nil), q.waiting[n:]...)
	return batch
}

// handOver gives the lead to the first waiting write, or leaves the
// queue idle.
func (q *commitQueue) handOver() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting) == 0 {
		q.leading = false
		return
	}
	q.waiting[0].done <- writeOutcome{lead: true}
}

// write runs fn in a write transaction of db, creating tablecast's tables
// first if needed, and commits; it returns the TXID of the commit. Writes
// to the same database that wait meanwhile share a transaction (see group
// commit above); fn's error rolls back fn's changes alone.
func (w *Writer) write(ctx context.Context, db string, h *handle, fn func(*sql.Tx) error) (tablecast.TXID, error) {
	p := &pendingWrite{ctx: ctx, fn: fn, done: make(chan writeOutcome, 1)}
	if !h.queue.enqueue(p) {
		// Another write leads: it answers p, or hands p the lead.
		if out := <-p.done; !out.lead {
			return out.txid, out.err
		}
	}
	batch := h.queue.take()
	w.runGroup(db, h, batch)
	for _, o := range batch {
		if o != p {
			o.done <- o.out
		}
	}
	h.queue.handOver()
	return p.out.txid, p.out.err
}

// runGroup runs batch as one transaction and sets each write's outcome.
func (w *Writer) runGroup(db string, h *handle, batch []*pendingWrite) {
	fail := func(err error) {
		for _, p := range batch {
			if p.out.err == nil {
				p.out.err = err
			}
		}
	}
	// The transaction belongs to no one request: a client that leaves
	// must not roll back the others' writes.
	ctx := context.WithoutCancel(batch[0].ctx)
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		fail(sqliteError("begin", err))
		return
	}
	defer func() { _ = tx.Rollback() }()
	if !h.meta.Load() {
		if err := createMeta(ctx, tx); err != nil {
			fail(sqliteError("create tablecast tables", err))
			return
		}
	}
	before, err := writeCounter(ctx, tx)
	if err != nil {
		fail(sqliteError("read the write counter", err))
		return
	}
	ok, err := w.runWrites(ctx, tx, batch)
	if err != nil {
		fail(err)
		return
	}
	if len(ok) == 0 {
		return // every write failed: nothing to commit
	}
	mark, err := countOnce(ctx, tx, before)
	if err != nil {
		fail(sqliteError("read the write counter", err))
		return
	}
	txid, err := w.commitChecked(tx, db, h, mark)
	for _, p := range ok {
		p.out = writeOutcome{txid: txid, err: err}
	}
	if err == nil {
		h.meta.Store(true)
	}
}

// runWrites runs each write of batch in tx, in its own savepoint when
// there are several, and returns those that succeeded. An error returned
// means the transaction is lost for all.
func (w *Writer) runWrites(ctx context.Context, tx *sql.Tx, batch []*pendingWrite) ([]*pendingWrite, error) {
	if len(batch) == 1 {
		p := batch[0]
		if err := p.fn(tx); err != nil {
			p.out.err = w.diskError(sqliteError("write", err)) // codes kept; disk full anywhere is EFULL
			return nil, nil
		}
		return batch, nil
	}
	var ok []*pendingWrite
	for _, p := range batch {
		if p.ctx.Err() != nil {
			p.out.err = tablecast.Errorf(tablecast.EUNAVAILABLE, "The request ended before the write was committed: nothing was written")
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT tablecast_write"); err != nil {
			return nil, sqliteError("savepoint", err)
		}
		if err := p.fn(tx); err != nil {
			p.out.err = w.diskError(sqliteError("write", err))
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO tablecast_write"); rerr != nil {
				w.logger().Warn("a write's failure rolled back its whole group", "err", err, "rollback_err", rerr)
				return nil, errGroupAborted
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE tablecast_write"); err != nil {
			return nil, errGroupAborted
		}
		if p.out.err == nil {
			ok = append(ok, p)
		}
	}
	return ok, nil
}

// writeCounter reads the global write counter of _table_versions (0
// before the first write).
func writeCounter(ctx context.Context, tx *sql.Tx) (int64, error) {
	var n int64
	err := tx.QueryRowContext(ctx, gate.WriteCounterSQL).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// countOnce makes the global write counter count the transaction once,
// however many writes it holds (each bumped it), and returns its value:
// readers take a TXID that moved more than the counter for a write from
// outside tablecast, and a COMMIT that reported an error is checked
// against it (committed).
func countOnce(ctx context.Context, tx *sql.Tx, before int64) (int64, error) {
	after, err := writeCounter(ctx, tx)
	if err != nil || after <= before+1 {
		if err == nil && after == before {
			// No write bumped it: read it as a lone write does (an
			// error when the counter row is missing).
			err = tx.QueryRowContext(ctx, gate.WriteCounterSQL).Scan(&after)
		}
		return after, err
	}
	_, err = tx.ExecContext(ctx, "UPDATE "+tablecast.QuoteIdent(tablecast.TableVersionsTable)+" SET version = ? WHERE table_name = ''", before+1)
	return before + 1, err
}

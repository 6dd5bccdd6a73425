package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/internal/rowfile"
)

// Defaults of `tablecast insert`.
const (
	// DefaultInsertBatch is rows per request. `go run ./bench -scenario
	// insert` (README, Benchmarks), 1M rows of 5 columns, 2 shared cores:
	// 1000 rows a request 36.5k rows/s, 5000 62.7k, 10000 74.6k; a
	// request's fixed cost (a commit through FUSE and LiteFS, replication)
	// weighs at 1000. 5000 keeps a transaction near 80 ms. The primary
	// takes up to 10,000 (DefaultMaxRows).
	DefaultInsertBatch = 5000
	// insertBatchBytes bounds a request body below the primary's default
	// max-body (1 MiB), whatever the batch size.
	insertBatchBytes = 1<<20 - 4<<10
)

// insertOptions are the flags and arguments of `tablecast insert`.
type insertOptions struct {
	db, table, file string
	format          rowfile.Format
	pks             []string
	detect          bool
	replace, ignore bool
	alter           bool
	batchRows       int
	batchBytes      int
	url, token      string
	progress        bool // a progress bar (stderr is a terminal)
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

const insertUsage = `usage: tablecast insert DB TABLE FILE|- [-csv|-tsv|-json|-nl] [-pk COL]... [-detect-types]
                        [-replace|-ignore] [-alter] [-batch-size N] -url URL -token T`

// parseInsert parses the arguments of `tablecast insert`; flags may come
// before, between or after DB TABLE FILE.
func parseInsert(args []string) (*insertOptions, error) {
	fs := flag.NewFlagSet("insert", flag.ContinueOnError)
	o := &insertOptions{}
	csvF := fs.Bool("csv", false, "FILE is CSV, a header line first (default from the .csv extension)")
	tsvF := fs.Bool("tsv", false, "FILE is tab-separated, a header line first (.tsv, .tab)")
	jsonF := fs.Bool("json", false, "FILE is a JSON list of objects, or one object (.json; the default for -)")
	nlF := fs.Bool("nl", false, "FILE is newline-delimited JSON, one object a line (.ndjson, .jsonl)")
	fs.Var((*stringList)(&o.pks), "pk", "primary key column of a new table (repeat for a compound key)")
	fs.BoolVar(&o.detect, "detect-types", false, "CSV/TSV: make columns integer or float where every value is one (as sqlite-utils' --detect-types); else all text")
	fs.BoolVar(&o.replace, "replace", false, "replace rows whose primary key exists")
	fs.BoolVar(&o.ignore, "ignore", false, "skip rows whose primary key exists (with -pk: resumes an interrupted insert)")
	fs.BoolVar(&o.alter, "alter", false, "add columns the table lacks")
	fs.IntVar(&o.batchRows, "batch-size", DefaultInsertBatch, "rows per request (one transaction each)")
	fs.StringVar(&o.url, "url", envOr("TABLECAST_URL", "http://127.0.0.1:8080"), "API URL of any node (env TABLECAST_URL)")
	fs.StringVar(&o.token, "token", os.Getenv("TABLECAST_TOKEN"), "token secret with the write scope (env TABLECAST_TOKEN)")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), insertUsage); fs.PrintDefaults() }
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 3 {
		return nil, fmt.Errorf("insert: want DB TABLE FILE (or - for stdin), got %d arguments\n%s", len(pos), insertUsage)
	}
	o.db, o.table, o.file = pos[0], pos[1], pos[2]
	if err := tablecast.ValidateDBName(o.db); err != nil {
		return nil, fmt.Errorf("insert: %s", tablecast.ErrorMessage(err))
	}
	if err := tablecast.ValidateTableName(o.table); err != nil {
		return nil, fmt.Errorf("insert: %s", tablecast.ErrorMessage(err))
	}
	var given []rowfile.Format
	for f, set := range map[rowfile.Format]bool{rowfile.CSV: *csvF, rowfile.TSV: *tsvF, rowfile.JSON: *jsonF, rowfile.NL: *nlF} {
		if set {
			given = append(given, f)
		}
	}
	switch {
	case len(given) > 1:
		return nil, fmt.Errorf("insert: use one of -csv, -tsv, -json or -nl")
	case len(given) == 1:
		o.format = given[0]
	case o.file == "-":
		o.format = rowfile.JSON // as sqlite-utils
	default:
		f, ok := rowfile.FormatOf(o.file)
		if !ok {
			return nil, fmt.Errorf("insert: cannot tell the format of %s from its name: use -csv, -tsv, -json or -nl", o.file)
		}
		o.format = f
	}
	switch {
	case o.replace && o.ignore:
		return nil, fmt.Errorf("insert: use either -replace or -ignore, not both")
	case o.detect && (o.format == rowfile.JSON || o.format == rowfile.NL):
		return nil, fmt.Errorf("insert: -detect-types is for CSV and TSV (JSON values carry their types)")
	case o.batchRows < 1:
		return nil, fmt.Errorf("insert: -batch-size must be at least 1")
	}
	o.batchBytes = insertBatchBytes
	return o, nil
}

// runInsert: `tablecast insert DB TABLE FILE|- …`.
func runInsert(ctx context.Context, args []string) error {
	o, err := parseInsert(args)
	if err != nil {
		return err
	}
	o.progress = isTerminal(os.Stderr)
	in, size, cleanup, err := openInsertFile(o.file)
	if err != nil {
		return err
	}
	defer cleanup()
	start := time.Now()
	n, err := insertFile(ctx, o, in, size, os.Stderr)
	if err != nil {
		return err
	}
	if o.progress {
		secs := time.Since(start).Seconds()
		fmt.Fprintf(os.Stderr, "inserted %d rows into %s/%s in %.1fs (%.0f rows/s)\n", n, o.db, o.table, secs, float64(n)/secs)
	}
	return nil
}

// openInsertFile opens FILE, or stdin for "-"; size is -1 when unknown.
func openInsertFile(name string) (io.ReadSeeker, int64, func(), error) {
	if name == "-" {
		return nil, -1, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("insert: %w", err)
	}
	size := int64(-1)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return f, size, func() { _ = f.Close() }, nil
}

// insertFile inserts every row of in (nil: stdin) and returns how many
// were written. Progress goes to progress when o.progress.
func insertFile(ctx context.Context, o *insertOptions, in io.ReadSeeker, size int64, progress io.Writer) (int64, error) {
	name := o.file
	if name == "-" {
		name = "stdin"
	}
	var src io.Reader = in
	if in == nil {
		src = os.Stdin
	}
	var types []rowfile.Type
	if o.detect {
		// Types are known only once every row was seen: a first pass
		// reads the file (stdin is copied to a temporary file meanwhile).
		var err error
		if types, src, err = detectTypes(src, in, name, o.format); err != nil {
			return 0, err
		}
	}
	ins := &inserter{o: o, client: cliClient, types: types, name: name}
	ins.r = rowfile.NewReader(src, name, o.format)
	if o.progress {
		ins.bar = newInsertBar(progress, size)
		defer ins.bar.finish()
	}
	return ins.run(ctx)
}

// detectTypes reads a CSV or TSV file once for its column types and
// returns a reader of the file from its start again.
func detectTypes(src io.Reader, in io.ReadSeeker, name string, f rowfile.Format) ([]rowfile.Type, io.Reader, error) {
	var spool *os.File
	if in == nil {
		tmp, err := os.CreateTemp("", "tablecast-insert-*")
		if err != nil {
			return nil, nil, fmt.Errorf("insert: spool stdin for -detect-types: %w", err)
		}
		_ = os.Remove(tmp.Name()) // gone when closed; the process ends with the command
		spool = tmp
		src = io.TeeReader(src, tmp)
	}
	r := rowfile.NewReader(src, name, f)
	var tr rowfile.Tracker
	for {
		row, err := r.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, nil, fmt.Errorf("insert: %w\nnothing was written (types are detected before the first batch)", err)
		}
		tr.Observe(row)
	}
	// A header without rows gives no types: its columns are text.
	var err error
	if spool != nil {
		_, err = spool.Seek(0, io.SeekStart)
		in = spool
	} else {
		_, err = in.Seek(0, io.SeekStart)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("insert: rewind %s: %w", name, err)
	}
	return tr.Types(), in, nil
}

// inserter sends the rows of one file in batches: one goroutine reads
// and encodes the next batch while the current one is sent.
type inserter struct {
	o      *insertOptions
	client *http.Client
	r      *rowfile.Reader
	name   string
	types  []rowfile.Type // detected CSV types, nil: all text
	bar    *insertBar

	written int64           // rows committed
	kinds   map[string]byte // JSON: kinds of the first batch's values, to type a new table
	keys    []string        // JSON: keys of the first batch, in order
}

// batch is one request's rows, and for each the record's number and the
// places of its values (to name them in errors).
type batch struct {
	body   []byte
	rows   []batchRow
	create []byte // the first batch: the /-/create body
	err    error  // reading stopped at a bad record after these rows: nothing of them is sent
	read   int64  // bytes of the file read when the batch was complete
}

type batchRow struct {
	record int
	names  []string
	pos    []rowfile.Pos
}

// run reads, batches and sends every row.
func (ins *inserter) run(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan *batch, 1)
	go ins.build(ctx, batches)
	for b := range batches {
		if err := ins.send(ctx, b); err != nil {
			cancel()
			for range batches {
			}
			return ins.written, err
		}
	}
	return ins.written, ctx.Err()
}

// build reads the file into batches, the first with the table's create.
func (ins *inserter) build(ctx context.Context, out chan<- *batch) {
	defer close(out)
	first := true
	b := ins.newBatch()
	emit := func() bool {
		if first && b.err == nil {
			b.create, b.err = ins.createBody()
		}
		first = false
		ins.endBatch(b)
		select {
		case out <- b:
		case <-ctx.Done():
			return false
		}
		b = ins.newBatch()
		return true
	}
	for {
		row, err := ins.r.Next()
		if err == io.EOF {
			break
		}
		off := len(b.body)
		if err == nil {
			err = ins.add(b, row, first)
		}
		if err != nil {
			b.err = err
			emit()
			return
		}
		if len(b.body) > ins.o.batchBytes && len(b.rows) > 1 {
			// Over the body limit: this row starts the next batch.
			tail, last := append([]byte(nil), b.body[off+1:]...), b.rows[len(b.rows)-1] // +1: its comma
			b.body, b.rows = b.body[:off], b.rows[:len(b.rows)-1]
			if !emit() {
				return
			}
			b.body, b.rows = append(b.body, tail...), append(b.rows, last)
		}
		if len(b.rows) >= ins.o.batchRows {
			if !emit() {
				return
			}
		}
	}
	if len(b.rows) > 0 || first {
		emit()
	}
}

func (ins *inserter) newBatch() *batch {
	return &batch{body: append(make([]byte, 0, 64<<10), `{"rows":[`...)}
}

// endBatch closes the body of a batch with the insert's options.
func (ins *inserter) endBatch(b *batch) {
	b.read = ins.r.BytesRead()
	b.body = append(b.body, ']')
	switch {
	case ins.o.ignore:
		b.body = append(b.body, `,"ignore":true`...)
	case ins.o.replace:
		b.body = append(b.body, `,"replace":true`...)
	}
	if ins.o.alter {
		b.body = append(b.body, `,"alter":true`...)
	}
	b.body = append(b.body, '}')
}

// add appends one row to the batch body.
func (ins *inserter) add(b *batch, row *rowfile.Row, first bool) error {
	if len(b.rows) > 0 {
		b.body = append(b.body, ',')
	}
	b.body = append(b.body, '{')
	for i, name := range row.Names {
		if i > 0 {
			b.body = append(b.body, ',')
		}
		b.body = rowfile.AppendString(b.body, name)
		b.body = append(b.body, ':')
		typ := rowfile.TextType
		if i < len(ins.types) {
			typ = ins.types[i]
		}
		var ok bool
		if b.body, ok = rowfile.AppendJSON(b.body, row.Values[i], typ); !ok {
			// Types were detected over this very file: only a file that
			// changed between the two passes gets here.
			return &rowfile.Error{File: ins.name, Pos: row.Pos[i], Record: row.Record, Column: name, Msg: "value does not fit the detected type " + typ.String() + " (did the file change?)"}
		}
	}
	b.body = append(b.body, '}')
	if first {
		ins.noteKinds(row)
	}
	br := batchRow{record: row.Record, pos: append([]rowfile.Pos(nil), row.Pos...)}
	if ins.o.format == rowfile.JSON || ins.o.format == rowfile.NL {
		br.names = append(br.names, row.Names...)
	} else {
		br.names = row.Names // the header, shared
	}
	b.rows = append(b.rows, br)
	return nil
}

// noteKinds records the JSON kinds of a row of the first batch, to type
// the columns of a new table (as the primary's /-/create infers them).
func (ins *inserter) noteKinds(row *rowfile.Row) {
	if ins.o.format != rowfile.JSON && ins.o.format != rowfile.NL {
		return
	}
	if ins.kinds == nil {
		ins.kinds = make(map[string]byte)
	}
	for i, name := range row.Names {
		key := strings.ToLower(name)
		k, seen := ins.kinds[key]
		if !seen {
			ins.keys = append(ins.keys, name)
		}
		ins.kinds[key] = widenKind(k, row.Values[i].Raw)
	}
}

// widenKind: 0 unknown (null so far), 'i' integer, 'f' float, 't' text.
func widenKind(have byte, raw []byte) byte {
	var next byte
	switch raw[0] {
	case 'n':
		return have
	case 't', 'f':
		next = 'i'
	case '"', '{', '[':
		next = 't'
	default:
		next = 'i'
		if bytes.ContainsAny(raw, ".eE") {
			next = 'f'
		}
	}
	switch {
	case have == 0:
		return next
	case have == 'i' && next == 'f':
		return 'f'
	}
	return have
}

// send writes a batch: the table first if it is new, then the rows.
func (ins *inserter) send(ctx context.Context, b *batch) error {
	if b.err != nil {
		return ins.failed(b, b.err)
	}
	if b.create != nil {
		if err := ins.create(ctx, b.create); err != nil {
			return err
		}
	}
	if len(b.rows) == 0 {
		return nil
	}
	path := "/" + url.PathEscape(ins.o.db) + "/" + url.PathEscape(ins.o.table) + "/-/insert"
	if err := ins.postRetrying(ctx, path, b.body); err != nil {
		return ins.batchError(b, err)
	}
	ins.written += int64(len(b.rows))
	if ins.bar != nil {
		ins.bar.set(ins.written, b.read)
	}
	return nil
}

// createBody is the /-/create of the table with the columns of the file
// (CSV: the header, typed when detected; JSON: typed as /-/create infers
// types, from the first batch) and the -pk columns.
func (ins *inserter) createBody() ([]byte, error) {
	type col struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	var cols []col
	header, err := ins.r.Header()
	if err != nil {
		return nil, err
	}
	if header != nil {
		for i, name := range header {
			typ := "text"
			if i < len(ins.types) {
				typ = ins.types[i].String()
			}
			cols = append(cols, col{name, typ})
		}
	} else {
		for _, name := range ins.keys {
			typ := map[byte]string{'i': "integer", 'f': "float"}[ins.kinds[strings.ToLower(name)]]
			if typ == "" {
				typ = "text"
			}
			cols = append(cols, col{name, typ})
		}
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("%s has no rows: nothing to make table %s of", ins.name, ins.o.table)
	}
	body := map[string]any{"table": ins.o.table, "columns": cols}
	switch len(ins.o.pks) {
	case 0:
	case 1:
		body["pk"] = ins.o.pks[0]
	default:
		body["pks"] = ins.o.pks
	}
	return json.Marshal(body)
}

// create makes the table; a table that exists is kept as it is.
func (ins *inserter) create(ctx context.Context, body []byte) error {
	_, err := ins.post(ctx, "/"+url.PathEscape(ins.o.db)+"/-/create", body)
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusBadRequest && strings.HasPrefix(ae.msg, "Table already exists") {
		return nil
	} else if err != nil {
		return fmt.Errorf("insert: create table %s: %w", ins.o.table, err)
	}
	return nil
}

// Retries of a batch the cluster refused for now, saying nothing was
// written (503: the primary moved, a node shutting down, a busy
// database): after 1, 2, 4, 8 and 16 s.
const insertRetries = 5

var insertRetryFirst = time.Second // tests shorten it

// postRetrying posts a batch, again while the answer is a 503 that says
// nothing was written. Any other answer, and a failure that leaves the
// outcome unknown, ends it.
func (ins *inserter) postRetrying(ctx context.Context, path string, body []byte) error {
	wait := insertRetryFirst
	for try := 0; ; try++ {
		_, err := ins.post(ctx, path, body)
		var ae *apiError
		if try == insertRetries || !errors.As(err, &ae) || ae.status != http.StatusServiceUnavailable || !strings.Contains(ae.msg, "nothing was written") {
			return err
		}
		if ins.bar != nil {
			ins.bar.bar.Describe(fmt.Sprintf("%d rows; retrying in %s: %s", ins.written, wait, ae.msg))
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		wait *= 2
	}
}

// apiError is an error answer of the write API.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.status, http.StatusText(e.status), e.msg)
}

// post sends a JSON body to the write API and decodes the answer.
func (ins *inserter) post(ctx context.Context, path string, body []byte) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(ins.o.url, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if ins.o.token != "" {
		req.Header.Set("Authorization", "Bearer "+ins.o.token)
	}
	resp, err := ins.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("POST %s: read answer: %w", path, err)
	}
	var out map[string]any
	jerr := json.Unmarshal(raw, &out)
	if resp.StatusCode/100 != 2 {
		msg, _ := out["error"].(string)
		if msg == "" {
			msg = string(bytes.TrimSpace(raw))
		}
		return nil, &apiError{status: resp.StatusCode, msg: msg}
	}
	if jerr != nil {
		return nil, fmt.Errorf("POST %s: decode answer: %w", path, jerr)
	}
	return out, nil
}

// rowInError finds "Row N" and the column in the primary's error messages.
var (
	rowInError    = regexp.MustCompile(`^Row (\d+)\b`)
	columnInError = regexp.MustCompile(`column "((?:[^"\\]|\\.)*)"|invalid columns: (.+)$`)
)

// batchError names the record (file, line, column) a refused batch
// failed on, when the primary's answer names its row.
func (ins *inserter) batchError(b *batch, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return fmt.Errorf("insert: %w\nthe batch (%s) may or may not have been written: read before retrying; %d rows were written before it", err, b.span(0), ins.written)
	}
	if m := rowInError.FindStringSubmatch(ae.msg); m != nil {
		if i, _ := strconv.Atoi(m[1]); i < len(b.rows) {
			br := b.rows[i]
			e := &rowfile.Error{File: ins.name, Record: br.record, Msg: ae.msg}
			if len(br.pos) > 0 {
				e.Pos = rowfile.Pos{Line: br.pos[0].Line}
			}
			if c := columnInError.FindStringSubmatch(ae.msg); c != nil {
				name := c[1]
				if name == "" {
					name = strings.TrimSpace(strings.SplitN(c[2], ",", 2)[0])
				} else if unq, err := strconv.Unquote(`"` + name + `"`); err == nil {
					name = unq
				}
				for j, n := range br.names {
					if strings.EqualFold(n, name) && j < len(br.pos) {
						e.Pos, e.Column = br.pos[j], n
					}
				}
			}
			if strings.Contains(ae.msg, "got string") && ins.types == nil && (ins.o.format == rowfile.CSV || ins.o.format == rowfile.TSV) {
				e.Msg += " (CSV values are text; -detect-types sends numbers)"
			}
			return ins.failed(b, e)
		}
	}
	return ins.failed(b, ae)
}

// span is the records of a batch, "records 12-20"; last, when larger, is a
// record read after them (the bad one).
func (b *batch) span(last int) string {
	if len(b.rows) == 0 {
		return fmt.Sprintf("record %d", last)
	}
	first := b.rows[0].record
	last = max(last, b.rows[len(b.rows)-1].record)
	if first == last {
		return fmt.Sprintf("record %d", first)
	}
	return fmt.Sprintf("records %d-%d", first, last)
}

// failed completes the error of a batch with what was written, so that
// the insert can be resumed.
func (ins *inserter) failed(b *batch, err error) error {
	var fe *rowfile.Error
	last := 0
	if errors.As(err, &fe) {
		last = fe.Record
	}
	what := "nothing of its batch was written"
	if len(b.rows) > 0 || last > 0 {
		what = fmt.Sprintf("nothing of its batch (%s) was written", b.span(last))
	}
	resume := ""
	if ins.written > 0 {
		resume = " (with -pk, run the same command with -ignore to resume)"
	}
	return fmt.Errorf("insert: %w\n%s; %d rows were written before it%s", err, what, ins.written, resume)
}

// insertBar is the progress bar of an insert on a terminal (isTerminal,
// progress.go): rows, bytes of the file read, and the rate.
type insertBar struct {
	bar   *progressbar.ProgressBar
	start time.Time
}

func newInsertBar(w io.Writer, size int64) *insertBar {
	return &insertBar{start: time.Now(), bar: progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetDescription("inserting"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)}
}

// set shows rows written and bytes read.
func (b *insertBar) set(rows, bytesRead int64) {
	b.bar.Describe(fmt.Sprintf("%d rows (%.0f rows/s)", rows, float64(rows)/max(time.Since(b.start).Seconds(), 1e-3)))
	_ = b.bar.Set64(bytesRead)
}

func (b *insertBar) finish() { _ = b.bar.Finish() }

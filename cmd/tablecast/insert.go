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
	// DefaultInsertBatch is rows per request. Measured with `go run ./bench
	// -scenario insert` (README, Benchmarks): see insertBatchBytes.
	DefaultInsertBatch = 1000
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
			return nil, nil, insertError(err, 0)
		}
		tr.Observe(row)
	}
	if header, err := r.Header(); err == nil && tr.Types() == nil {
		tr.Observe(&rowfile.Row{Names: header}) // a header without rows
	}
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

// inserter sends the rows of one file in batches.
type inserter struct {
	o      *insertOptions
	client *http.Client
	r      *rowfile.Reader
	name   string
	types  []rowfile.Type // detected CSV types, nil: all text
	bar    *insertBar

	created bool  // the table exists (made here, or found)
	written int64 // rows committed
	// The batch being built: its body, and for each row the record's
	// number and the places of its values (to name them in errors).
	body  []byte
	batch []batchRow
	kinds map[string]byte // JSON: kinds of the first batch's values, to type a new table
	keys  []string        // JSON: keys of the first batch, in order
}

type batchRow struct {
	record int
	names  []string
	pos    []rowfile.Pos
}

// run reads, batches and sends every row.
func (ins *inserter) run(ctx context.Context) (int64, error) {
	ins.startBatch()
	for {
		row, err := ins.r.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return ins.written, ins.failed(err)
		}
		if err := ins.add(row); err != nil {
			return ins.written, ins.failed(err)
		}
		if len(ins.batch) >= ins.o.batchRows || len(ins.body) >= ins.o.batchBytes {
			if err := ins.flush(ctx); err != nil {
				return ins.written, err
			}
		}
	}
	if len(ins.batch) > 0 || !ins.created {
		if err := ins.flush(ctx); err != nil {
			return ins.written, err
		}
	}
	return ins.written, nil
}

func (ins *inserter) startBatch() {
	ins.body = append(ins.body[:0], `{"rows":[`...)
	ins.batch = ins.batch[:0]
}

// add appends one row to the batch body.
func (ins *inserter) add(row *rowfile.Row) error {
	if len(ins.batch) > 0 {
		ins.body = append(ins.body, ',')
	}
	ins.body = append(ins.body, '{')
	for i, name := range row.Names {
		if i > 0 {
			ins.body = append(ins.body, ',')
		}
		ins.body = rowfile.AppendString(ins.body, name)
		ins.body = append(ins.body, ':')
		typ := rowfile.TextType
		if i < len(ins.types) {
			typ = ins.types[i]
		}
		var ok bool
		if ins.body, ok = rowfile.AppendJSON(ins.body, row.Values[i], typ); !ok {
			// Types were detected over this very file: only a file that
			// changed between the two passes gets here.
			return &rowfile.Error{File: ins.name, Pos: row.Pos[i], Record: row.Record, Column: name, Msg: "value does not fit the detected type " + typ.String() + " (did the file change?)"}
		}
	}
	ins.body = append(ins.body, '}')
	br := batchRow{record: row.Record}
	if !ins.created {
		ins.noteKinds(row)
	}
	br.names = append(br.names, row.Names...)
	br.pos = append(br.pos, row.Pos...)
	ins.batch = append(ins.batch, br)
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

// flush sends the batch: the table first if it is new, then the rows.
func (ins *inserter) flush(ctx context.Context) error {
	if !ins.created {
		if err := ins.create(ctx); err != nil {
			return err
		}
		ins.created = true
	}
	if len(ins.batch) == 0 {
		return nil
	}
	ins.body = append(ins.body, ']')
	switch {
	case ins.o.ignore:
		ins.body = append(ins.body, `,"ignore":true`...)
	case ins.o.replace:
		ins.body = append(ins.body, `,"replace":true`...)
	}
	if ins.o.alter {
		ins.body = append(ins.body, `,"alter":true`...)
	}
	ins.body = append(ins.body, '}')
	path := "/" + url.PathEscape(ins.o.db) + "/" + url.PathEscape(ins.o.table) + "/-/insert"
	if _, err := ins.post(ctx, path, ins.body); err != nil {
		return ins.batchError(err)
	}
	ins.written += int64(len(ins.batch))
	if ins.bar != nil {
		ins.bar.set(ins.written, ins.r.BytesRead())
	}
	ins.startBatch()
	return nil
}

// create makes the table with the columns of the file (CSV: the header,
// typed when detected; JSON: as /-/create infers them from the first
// batch) and the -pk columns. A table that exists is kept as it is.
func (ins *inserter) create(ctx context.Context) error {
	type col struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	var cols []col
	if header, _ := ins.r.Header(); header != nil {
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
		return fmt.Errorf("insert: %s has no rows: nothing to make table %s of", ins.name, ins.o.table)
	}
	body := map[string]any{"table": ins.o.table, "columns": cols}
	switch len(ins.o.pks) {
	case 0:
	case 1:
		body["pk"] = ins.o.pks[0]
	default:
		body["pks"] = ins.o.pks
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("insert: encode create: %w", err)
	}
	_, err = ins.post(ctx, "/"+url.PathEscape(ins.o.db)+"/-/create", raw)
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusBadRequest && strings.HasPrefix(ae.msg, "Table already exists") {
		return nil
	} else if err != nil {
		return fmt.Errorf("insert: create table %s: %w", ins.o.table, err)
	}
	return nil
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
func (ins *inserter) batchError(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return ins.failed(fmt.Errorf("%w (the batch of records %s may or may not have been written: read before retrying)", err, ins.span()))
	}
	if m := rowInError.FindStringSubmatch(ae.msg); m != nil {
		if i, _ := strconv.Atoi(m[1]); i < len(ins.batch) {
			br := ins.batch[i]
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
			return ins.failed(e)
		}
	}
	return ins.failed(fmt.Errorf("%s", ae.msg))
}

// span is the records of the current batch, "12-20".
func (ins *inserter) span() string {
	if len(ins.batch) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d-%d", ins.batch[0].record, ins.batch[len(ins.batch)-1].record)
}

// failed completes an error with what was written, so that the insert
// can be resumed.
func (ins *inserter) failed(err error) error {
	var fe *rowfile.Error
	what := "nothing of its batch was written"
	if len(ins.batch) > 0 {
		what = fmt.Sprintf("nothing of its batch (records %s) was written", ins.span())
	}
	if errors.As(err, &fe) && fe.Record > 0 && (len(ins.batch) == 0 || fe.Record > ins.batch[len(ins.batch)-1].record) {
		first := fe.Record
		if len(ins.batch) > 0 {
			first = ins.batch[0].record
		}
		what = fmt.Sprintf("nothing of its batch (records %d-%d) was written", first, fe.Record)
	}
	if !errors.As(err, &fe) && !strings.Contains(err.Error(), "Row ") {
		what = ""
	}
	resume := ""
	if ins.written > 0 {
		resume = " (with -pk, run the same command with -ignore to resume)"
	}
	if what != "" {
		return fmt.Errorf("insert: %w\n%s; %d rows were written before it%s", err, what, ins.written, resume)
	}
	return fmt.Errorf("insert: %w\n%d rows were written before it%s", err, ins.written, resume)
}

// insertError is failed for errors before any batch.
func insertError(err error, written int64) error {
	return fmt.Errorf("insert: %w\n%d rows were written", err, written)
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// insertBar is the progress bar of an insert on a terminal: rows, bytes
// of the file read, and the rate. (cmd/tablecast/progress.go of the
// import branch makes the same terminal-or-quiet decision; once both are
// merged this can use it.)
type insertBar struct {
	bar  *progressbar.ProgressBar
	rows int64
}

func newInsertBar(w io.Writer, size int64) *insertBar {
	return &insertBar{bar: progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("inserting"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)}
}

// set shows rows written and bytes read.
func (b *insertBar) set(rows, bytesRead int64) {
	b.rows = rows
	b.bar.Describe(fmt.Sprintf("%d rows", rows))
	_ = b.bar.Set64(bytesRead)
}

func (b *insertBar) finish() { _ = b.bar.Finish() }

// Package rowfile reads rows from CSV, TSV, JSON-array and
// newline-delimited JSON files, streaming, with sqlite-utils' semantics:
// a CSV header names the columns and every CSV value is text unless types
// are detected (see Tracker); a JSON file is a list of objects (or one
// object), one object per line for newline-delimited JSON. Every error
// names the file, line and column, and the record. The CLI's
// `tablecast insert` and the admin pages' CSV upload both read with it.
package rowfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/tablecast/tablecast/internal/jsonscan"
)

// Format is a file format.
type Format int

// The formats.
const (
	CSV  Format = iota + 1 // comma-separated, a header line first
	TSV                    // tab-separated, a header line first
	JSON                   // a JSON array of objects, or one object
	NL                     // newline-delimited JSON: one object per line
)

func (f Format) String() string {
	switch f {
	case CSV:
		return "csv"
	case TSV:
		return "tsv"
	case JSON:
		return "json"
	case NL:
		return "nl"
	}
	return "unknown"
}

// FormatOf guesses a format from a file name's extension; ok is false
// when it does not tell.
func FormatOf(name string) (f Format, ok bool) {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".csv"):
		return CSV, true
	case strings.HasSuffix(lower, ".tsv"), strings.HasSuffix(lower, ".tab"):
		return TSV, true
	case strings.HasSuffix(lower, ".json"):
		return JSON, true
	case strings.HasSuffix(lower, ".ndjson"), strings.HasSuffix(lower, ".jsonl"), strings.HasSuffix(lower, ".nl"):
		return NL, true
	}
	return 0, false
}

// MaxRecord bounds one record (a CSV line, a JSON object) in bytes, so
// that a file without the expected separators cannot take all memory.
const MaxRecord = 64 << 20

// Kind says what a Value holds.
type Kind uint8

// The kinds of values.
const (
	Null Kind = iota // a CSV row shorter than the header
	Text             // a CSV or TSV field
	Raw              // a JSON value, as written in the file
)

// Value is one value of a row.
type Value struct {
	Kind Kind
	Text string // Kind Text
	Raw  []byte // Kind Raw: one JSON value (valid JSON, no surrounding space)
}

// Row is one record of a file. A Row and its slices are valid until the
// next call of Next.
type Row struct {
	Record int      // 1-based number of the record (CSV: not counting the header)
	Line   int      // line of the record's start
	Names  []string // column names, in file order
	Values []Value  // one per name
	// Pos is where each value starts (CSV, TSV and JSON; empty for
	// values filled in for a short CSV row).
	Pos []Pos
}

// Pos is a place in a file: 1-based line and column (bytes).
type Pos struct{ Line, Column int }

// Error is bad input: the file, the place and the record it is in.
type Error struct {
	File   string
	Pos    Pos
	Record int    // 0: before the first record (a header, an opening bracket)
	Column string // the column (CSV header name, JSON key) when known
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Pos.Line)
		if e.Pos.Column > 0 {
			fmt.Fprintf(&b, ", column %d", e.Pos.Column)
		}
	}
	if e.Record > 0 {
		fmt.Fprintf(&b, " (record %d", e.Record)
		if e.Column != "" {
			fmt.Fprintf(&b, ", column %q", e.Column)
		}
		b.WriteString(")")
	} else if e.Column != "" {
		fmt.Fprintf(&b, " (column %q)", e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Reader reads rows from one file.
type Reader struct {
	name   string
	format Format
	src    *countingReader
	br     *bufio.Reader
	lines  *lineTracker // JSON: offsets of newlines, for positions

	csv    *csv.Reader
	header []string
	dec    *json.Decoder
	nl     []byte // NL: the current line
	line   int    // NL: lines read
	record int
	done   bool
	row    Row
	keys   map[string]bool // JSON: the keys of a large object so far (dupKey)
}

// NewReader reads file name (for errors) of format f from r.
func NewReader(r io.Reader, name string, f Format) *Reader {
	rd := &Reader{name: name, format: f, src: &countingReader{r: r}}
	switch f {
	case CSV, TSV:
		rd.br = bufio.NewReaderSize(rd.src, 64<<10)
		rd.csv = csv.NewReader(rd.br)
		if f == TSV {
			rd.csv.Comma = '\t'
		}
		rd.csv.FieldsPerRecord = -1
		rd.csv.ReuseRecord = true
	case JSON:
		rd.lines = &lineTracker{r: rd.src}
		rd.br = bufio.NewReaderSize(rd.lines, 64<<10)
	default:
		rd.br = bufio.NewReaderSize(rd.src, 64<<10)
	}
	return rd
}

// BytesRead is how many bytes of the file were read so far.
func (r *Reader) BytesRead() int64 { return r.src.n }

// Header returns the CSV or TSV header, reading it if needed; nil for JSON.
func (r *Reader) Header() ([]string, error) {
	if r.csv == nil {
		return nil, nil
	}
	if r.header == nil {
		if err := r.readHeader(); err != nil {
			return nil, err
		}
	}
	return r.header, nil
}

// Next returns the next row, or io.EOF after the last one. Any other
// error is an *Error (bad input) or a read error.
func (r *Reader) Next() (*Row, error) {
	if r.done {
		return nil, io.EOF
	}
	var err error
	switch r.format {
	case CSV, TSV:
		err = r.nextCSV()
	case JSON:
		err = r.nextJSON()
	case NL:
		err = r.nextNL()
	default:
		err = fmt.Errorf("rowfile: unknown format %d", r.format)
	}
	if err != nil {
		r.done = true
		return nil, err
	}
	return &r.row, nil
}

func (r *Reader) errorf(pos Pos, column, format string, args ...any) *Error {
	return &Error{File: r.name, Pos: pos, Record: r.record, Column: column, Msg: fmt.Sprintf(format, args...)}
}

// readHeader reads the first CSV line: the column names, a UTF-8 BOM
// dropped (Python's utf-8-sig, as sqlite-utils reads).
func (r *Reader) readHeader() error {
	if b, err := r.br.Peek(3); err == nil && string(b) == "\ufeff" {
		_, _ = r.br.Discard(3)
	}
	rec, err := r.csv.Read()
	if err == io.EOF {
		return r.errorf(Pos{}, "", "empty file: a header line naming the columns is needed")
	} else if err != nil {
		return r.csvError(err)
	}
	header := make([]string, len(rec))
	seen := make(map[string]bool, len(rec))
	for i, name := range rec {
		line, col := r.csv.FieldPos(i)
		pos := Pos{line, col}
		if !utf8.ValidString(name) {
			return r.errorf(pos, "", "header: column %d is not valid UTF-8", i+1)
		}
		if strings.TrimSpace(name) == "" {
			return r.errorf(pos, "", "header: column %d has no name", i+1)
		}
		if seen[strings.ToLower(name)] {
			return r.errorf(pos, name, "header: column name given twice")
		}
		seen[strings.ToLower(name)] = true
		header[i] = name
	}
	r.header = header
	return nil
}

func (r *Reader) nextCSV() error {
	if r.header == nil {
		if err := r.readHeader(); err != nil {
			return err
		}
	}
	rec, err := r.csv.Read()
	if err != nil {
		if err == io.EOF {
			return err
		}
		r.record++
		return r.csvError(err)
	}
	r.record++
	line, _ := r.csv.FieldPos(0)
	row := &r.row
	row.Record, row.Line, row.Names = r.record, line, r.header
	row.Values, row.Pos = row.Values[:0], row.Pos[:0]
	if len(rec) > len(r.header) {
		l, c := r.csv.FieldPos(len(r.header))
		return r.errorf(Pos{l, c}, "", "%d values, but the header names %d columns", len(rec), len(r.header))
	}
	for i, s := range rec {
		l, c := r.csv.FieldPos(i)
		if !utf8.ValidString(s) {
			return r.errorf(Pos{l, c}, r.header[i], "not valid UTF-8")
		}
		row.Values = append(row.Values, Value{Kind: Text, Text: s})
		row.Pos = append(row.Pos, Pos{l, c})
	}
	for range r.header[len(rec):] {
		row.Values = append(row.Values, Value{Kind: Null})
	}
	return nil
}

// csvError turns encoding/csv's errors into an *Error.
func (r *Reader) csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrBareQuote) {
			msg = `a quote (") inside an unquoted field: quote the field and double the quote`
		} else if errors.Is(pe.Err, csv.ErrQuote) {
			msg = `a quoted field is not closed, or a quote (") follows its closing quote`
		}
		return r.errorf(Pos{pe.Line, pe.Column}, "", "%s", msg)
	}
	return fmt.Errorf("read %s: %w", r.name, err)
}

// nextJSON reads the next element of a JSON array (or the one object).
func (r *Reader) nextJSON() error {
	if r.dec == nil {
		first, err := r.firstByte()
		if err != nil {
			return err
		}
		r.dec = json.NewDecoder(r.br)
		if first == '{' {
			return r.jsonRecord(true)
		}
		if first != '[' {
			return r.errorf(r.lines.pos(r.off()), "", "a JSON file must hold a list of objects, or one object")
		}
		if _, err := r.dec.Token(); err != nil {
			return r.jsonSyntax(err)
		}
	}
	if !r.dec.More() {
		if _, err := r.dec.Token(); err != nil {
			return r.jsonSyntax(err)
		}
		if _, err := r.dec.Token(); err != io.EOF {
			return r.errorf(r.lines.pos(r.off()), "", "unexpected data after the closing ]")
		}
		return io.EOF
	}
	return r.jsonRecord(false)
}

// firstByte returns the first byte that is not space of a JSON file.
func (r *Reader) firstByte() (byte, error) {
	for {
		b, err := r.br.Peek(1)
		if err == io.EOF {
			return 0, r.errorf(Pos{}, "", "empty file: a JSON list of objects is needed")
		} else if err != nil {
			return 0, fmt.Errorf("read %s: %w", r.name, err)
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = r.br.Discard(1)
			r.lines.skipped++
			continue
		case 0xef: // a UTF-8 BOM
			if bom, err := r.br.Peek(3); err == nil && string(bom) == "\ufeff" {
				_, _ = r.br.Discard(3)
				r.lines.skipped += 3
				continue
			}
		}
		return b[0], nil
	}
}

// off is the decoder's offset in the file.
func (r *Reader) off() int64 { return r.dec.InputOffset() + r.lines.skipped }

// jsonRecord decodes one object; single: it is the whole file.
func (r *Reader) jsonRecord(single bool) error {
	r.record++
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		return r.jsonSyntax(err)
	}
	end := r.off()
	start := end - int64(len(raw))
	if err := r.setObject(raw, func(off int) Pos { return r.lines.pos(start + int64(off)) }); err != nil {
		return err
	}
	if single {
		if _, err := r.dec.Token(); err != io.EOF {
			return r.errorf(r.lines.pos(r.off()), "", "unexpected data after the object")
		}
		r.done = true // the one record is returned, then io.EOF
		r.row.Record = r.record
	}
	return nil
}

// jsonSyntax turns a decoding error into an *Error at its place.
func (r *Reader) jsonSyntax(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return r.errorf(r.lines.pos(se.Offset+r.lines.skipped), "", "invalid JSON: %s", se.Error())
	case errors.As(err, &te):
		return r.errorf(r.lines.pos(te.Offset+r.lines.skipped), "", "invalid JSON: %s", te.Error())
	case errors.Is(err, io.ErrUnexpectedEOF), err == io.EOF:
		return r.errorf(r.lines.pos(r.src.n), "", "the JSON ends too early (an unclosed list, object or string)")
	}
	return fmt.Errorf("read %s: %w", r.name, err)
}

// nextNL reads the next non-blank line of a newline-delimited JSON file.
func (r *Reader) nextNL() error {
	for {
		line, err := r.readLine()
		if err != nil {
			return err
		}
		r.line++
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		r.record++
		lineNo := r.line
		if !json.Valid(line) {
			var v any
			err := json.Unmarshal(line, &v)
			col := 0
			var se *json.SyntaxError
			if errors.As(err, &se) {
				col = int(se.Offset)
			}
			return r.errorf(Pos{lineNo, col}, "", "invalid JSON: %v", err)
		}
		trimmed := bytes.TrimLeft(line, " \t\r")
		lead := len(line) - len(trimmed)
		return r.setObject(bytes.TrimRight(trimmed, " \t\r"), func(off int) Pos { return Pos{lineNo, lead + off + 1} })
	}
}

// readLine reads one line, without its newline, of at most MaxRecord bytes.
func (r *Reader) readLine() ([]byte, error) {
	r.nl = r.nl[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.nl = append(r.nl, chunk...)
		if len(r.nl) > MaxRecord {
			return nil, r.errorf(Pos{r.line + 1, 0}, "", "line longer than %d bytes", MaxRecord)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(r.nl) > 0:
			return r.nl, nil
		case err == io.EOF:
			return nil, io.EOF
		case err != nil:
			return nil, fmt.Errorf("read %s: %w", r.name, err)
		}
		return bytes.TrimSuffix(r.nl, []byte("\n")), nil
	}
}

// setObject fills the current row from one JSON object; at maps an
// offset in raw to its place in the file.
func (r *Reader) setObject(raw []byte, at func(int) Pos) error {
	row := &r.row
	row.Record, row.Line = r.record, at(0).Line
	row.Names, row.Values, row.Pos = row.Names[:0], row.Values[:0], row.Pos[:0]
	if len(raw) == 0 || raw[0] != '{' {
		return r.errorf(at(0), "", "a record must be a JSON object, not %s", jsonKind(raw))
	}
	if len(raw) > MaxRecord {
		return r.errorf(at(0), "", "record longer than %d bytes", MaxRecord)
	}
	// raw is valid JSON (decoded once, or checked with json.Valid).
	i := jsonscan.Space(raw, 1)
	for i < len(raw) && raw[i] == '"' {
		keyAt, kend := i, jsonscan.StringEnd(raw, i)
		key, err := jsonscan.String(raw[i:kend])
		if err != nil {
			return r.errorf(at(keyAt), "", "invalid JSON: %v", err)
		}
		i = jsonscan.Space(raw, jsonscan.Space(raw, kend)+1) // past the colon
		valAt, vend := i, jsonscan.ValueEnd(raw, i)
		v := raw[i:vend]
		if r.dupKey(row.Names, key) {
			return r.errorf(at(keyAt), key, "key given twice in one object")
		}
		if !utf8.Valid(v) || !utf8.ValidString(key) {
			return r.errorf(at(valAt), key, "not valid UTF-8")
		}
		row.Names = append(row.Names, key)
		row.Values = append(row.Values, Value{Kind: Raw, Raw: v})
		row.Pos = append(row.Pos, at(valAt))
		if i = jsonscan.Space(raw, vend); i < len(raw) && raw[i] == ',' {
			i = jsonscan.Space(raw, i+1)
		}
	}
	return nil
}

// dupKey reports whether key is among names: a scan for small objects,
// a map (r.keys, reset per object) past 16 keys.
func (r *Reader) dupKey(names []string, key string) bool {
	if len(names) < 16 {
		for _, n := range names {
			if n == key {
				return true
			}
		}
		return false
	}
	if len(names) == 16 || r.keys == nil {
		r.keys = make(map[string]bool, 2*len(names))
		for _, n := range names {
			r.keys[n] = true
		}
	}
	if r.keys[key] {
		return true
	}
	r.keys[key] = true
	return false
}

// jsonKind names the type of a JSON value for errors.
func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// lineTracker remembers where the newlines are in the part of a stream a
// JSON decoder has read ahead, to turn its offsets into lines and
// columns. Offsets asked for only grow, so passed newlines are dropped:
// the memory is that of the read-ahead and of one record.
type lineTracker struct {
	r        io.Reader
	read     int64   // bytes read through
	newlines []int64 // offsets of newlines not yet passed
	line     int     // newlines passed (the line of pos is line+1)
	lineAt   int64   // offset just after the last passed newline
	skipped  int64   // bytes discarded before the decoder started
}

func (t *lineTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	for i, c := range p[:n] {
		if c == '\n' {
			t.newlines = append(t.newlines, t.read+int64(i))
		}
	}
	t.read += int64(n)
	return n, err
}

// pos returns the line and column of offset off.
func (t *lineTracker) pos(off int64) Pos {
	i := 0
	for i < len(t.newlines) && t.newlines[i] < off {
		t.line++
		t.lineAt = t.newlines[i] + 1
		i++
	}
	t.newlines = t.newlines[i:]
	if off < t.lineAt {
		off = t.lineAt
	}
	return Pos{t.line + 1, int(off-t.lineAt) + 1}
}

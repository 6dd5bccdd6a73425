package replica

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"

	"github.com/tablecast/tablecast"
)

// Content types of answers.
const (
	contentJSON    = "application/json; charset=utf-8"
	contentNDJSON  = "application/x-ndjson; charset=utf-8"
	contentCSVText = "text/plain; charset=utf-8" // Datasette shows CSV in the browser…
	contentCSV     = "text/csv; charset=utf-8"   // …and downloads it with _dl=1
	contentHTML    = "text/html; charset=utf-8"
)

// object is a JSON object that keeps its keys in order (rows keep their
// columns' order, as Datasette's do).
type object struct {
	keys []string
	vals []any
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := encodeTrim(enc, &b, k); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		if err := encodeTrim(enc, &b, o.vals[i]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// encodeTrim encodes v without the newline Encoder adds.
func encodeTrim(enc *json.Encoder, b *bytes.Buffer, v any) error {
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1)
	return nil
}

// rowObject is one row as a JSON object.
func rowObject(cols []string, vals []any) object {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = jsonValue(v)
	}
	return object{keys: cols, vals: out}
}

// rowArray is one row as a JSON array.
func rowArray(vals []any) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = jsonValue(v)
	}
	return out
}

// jsonValue renders a SQLite value with the encoder the write path uses
// too (tablecast.AppendJSONValue: blobs as Datasette's, ±Inf as null).
func jsonValue(v any) json.RawMessage {
	if l, ok := v.(labeledValue); ok {
		return l.appendJSON(nil)
	}
	return tablecast.AppendJSONValue(nil, v)
}

// encodeJSON renders v as one JSON document.
func encodeJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return buf.Bytes()
}

// encodeNDJSON renders rows as one JSON object a line.
func encodeNDJSON(cols []string, rows [][]any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		_ = enc.Encode(rowObject(cols, r))
	}
	return buf.Bytes()
}

// csvWriter writes rows the way Datasette (Python's csv module) does: a
// header row, quotes only where needed, CRLF at the end of each record
// but a newline inside a field kept as it is, NULL as an empty field.
// encoding/csv quotes; it writes each record to buf, whose final "\n"
// becomes "\r\n" (its UseCRLF would rewrite newlines inside fields too).
type csvWriter struct {
	out    io.Writer
	buf    bytes.Buffer
	w      *csv.Writer
	fields []string
	err    error
}

func newCSVWriter(w io.Writer) *csvWriter {
	c := &csvWriter{out: w}
	c.w = csv.NewWriter(&c.buf)
	return c
}

func (c *csvWriter) header(cols []string) error { return c.record(cols) }

func (c *csvWriter) row(vals []any) error {
	c.fields = c.fields[:0]
	for _, v := range vals {
		c.fields = append(c.fields, csvValue(v))
	}
	return c.record(c.fields)
}

func (c *csvWriter) record(fields []string) error {
	if c.err != nil {
		return c.err
	}
	c.buf.Reset()
	if err := c.w.Write(fields); err != nil {
		c.err = err
		return err
	}
	c.w.Flush()
	b := c.buf.Bytes()
	b = append(b[:len(b)-1], '\r', '\n')
	_, c.err = c.out.Write(b)
	return c.err
}

func (c *csvWriter) flush() error { return c.err }

// csvValue writes a SQLite value as a CSV field: reals as Python writes
// them (Datasette's CSV is Python's), blobs in base64.
func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return string(tablecast.AppendPyFloat(nil, x))
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	default:
		return ""
	}
}

// encodeCSV renders a whole answer as CSV.
func encodeCSV(cols []string, rows [][]any, header bool) []byte {
	var buf bytes.Buffer
	cw := newCSVWriter(&buf)
	if header {
		_ = cw.header(cols)
	}
	for _, r := range rows {
		_ = cw.row(r)
	}
	_ = cw.flush()
	return buf.Bytes()
}

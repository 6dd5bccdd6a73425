package primary

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
)

// TestDecodeInsert_InvalidText: strings that are not valid Unicode are
// refused with an error naming the row and column, never stored as U+FFFD.
func TestDecodeInsert_InvalidText(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"{\"row\": {\"name\": \"caf\xe9\"}}", `Row 0, column "name": invalid UTF-8 byte 0xe9 at byte 21`},
		{"{\"rows\": [{\"a\": 1}, {\"a\": 2, \"b\": \"ok\xff\"}]}", `Row 1, column "b": invalid UTF-8 byte 0xff`},
		{"{\"rows\": [{\"a\": 1}, {\"b\xc3\": 2}]}", `Row 1: a column name: invalid UTF-8 byte 0xc3`},
		{`{"row": {"s": "x\ud800y"}}`, `Row 0, column "s": unpaired UTF-16 surrogate escape \ud800`},
		{`{"row": {"s": "\udc00"}}`, `Row 0, column "s": unpaired UTF-16 surrogate escape \udc00`},
		{`{"row": {"s": "\uD834\u0041"}}`, `Row 0, column "s": unpaired UTF-16 surrogate escape \uD834`},
		{"{\"rows\": [{\"j\": {\"deep\": [\"\xed\xa0\x80\"]}}]}", `Row 0, column "j": invalid UTF-8 byte 0xed`},
		{"{\"row\": {}, \"ign\xffore\": true}", "The key \"ign\ufffdore\": invalid UTF-8 byte 0xff"},
	} {
		_, err := decodeInsert([]byte(tc.body), 10)
		if tablecast.ErrorCode(err) != tablecast.EINVALID || !strings.Contains(tablecast.ErrorMessage(err), tc.want) ||
			!strings.Contains(tablecast.ErrorMessage(err), "nothing was written") {
			t.Errorf("%q: %v, want an EINVALID error containing %q", tc.body, err, tc.want)
		}
	}
	for _, body := range []string{
		`{"row": {"s": "caf\u00e9 \ud834\udd1e \ufffd", "t": "日本 🎵 �"}}`,
		`{"row": {"s": "\\ud800"}}`, // an escaped backslash, then text
	} {
		if _, err := decodeInsert([]byte(body), 10); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
}

// TestDecodeCreate_InvalidText: the create body too, outside rows.
func TestDecodeCreate_InvalidText(t *testing.T) {
	_, err := decodeCreate([]byte("{\"table\": \"t\", \"columns\": [{\"name\": \"a\"}, {\"name\": \"b\xff\"}]}"), 10)
	if tablecast.ErrorCode(err) != tablecast.EINVALID || !strings.Contains(tablecast.ErrorMessage(err), `The value at "columns".1."name": invalid UTF-8 byte 0xff`) {
		t.Errorf("create: %v", err)
	}
}

// TestWriter_InvalidTextNothingWritten: through the write API, a body with
// bytes that are not UTF-8 is a 400 naming the row and column, and the
// table is unchanged.
func TestWriter_InvalidTextNothingWritten(t *testing.T) {
	e := newTestEnv(t)
	e.mustPost("/db/-/create", `{"table": "t", "pk": "id", "rows": [{"id": 1, "s": "a"}]}`, http.StatusCreated)
	rec := e.post("/db/t/-/insert", "{\"rows\": [{\"id\": 2, \"s\": \"b\"}, {\"id\": 3, \"s\": \"\xc3\x28\"}]}")
	assertError(t, rec, http.StatusBadRequest, `Row 1, column "s": invalid UTF-8 byte 0xc3`)
	if got := e.queryString("db", "SELECT group_concat(id || s) FROM t"); got != "1a" {
		t.Fatalf("rows: %s", got)
	}
}

// TestWriter_TooLargeBody: a real client sending a body over max-body
// before reading gets the JSON 413, not a reset connection.
func TestWriter_TooLargeBody(t *testing.T) {
	e := newTestEnv(t)
	srv := httptest.NewServer(e.w)
	defer srv.Close()
	for _, size := range []int{3_990_000, 50_000_000} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(conn, "POST /db/t/-/insert HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", testSecret, size)
		if _, err := conn.Write(bytes.Repeat([]byte(" "), size)); err != nil {
			t.Fatalf("%d bytes: sending: %v", size, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%d bytes: reading the answer: %v", size, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode != 413 || !resp.Close || !strings.Contains(string(raw), `"status":413`) {
			t.Errorf("%d bytes: %d %q", size, resp.StatusCode, raw)
		}
	}
}

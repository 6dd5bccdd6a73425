package primary

import (
	"strings"
	"testing"

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

package primary

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzValidObjectFields: on any valid JSON in valid UTF-8, the scanner finds the members
// (and array elements) encoding/json finds, with the same errors.
func FuzzValidObjectFields(f *testing.F) {
	for _, s := range []string{`{}`, ` { "a" : 1 , "b":[1,{"c":"]}"}], "d\"e": "x\\"y", "f": null } `, `{"a":1,"a":2}`,
		`[1, "a", {"b": []}, [], true]`, `{"\u00e9": {"x": "}"}}`, `"str"`, `[]`, `12`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw := []byte(s)
		if !json.Valid(raw) || !utf8.Valid(raw) {
			return // decodeBody and checkText refuse such bodies first
		}
		got, gerr := validObjectFields(raw, "x")
		want, werr := objectFields(raw, "x")
		if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
			t.Fatalf("errors: got %v, want %v", gerr, werr)
		}
		if gerr == nil && !sameFields(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
		items, ok := validArrayItems(raw)
		var list []json.RawMessage
		err := json.Unmarshal(raw, &list)
		isArray := raw[skipSpace(raw, 0)] == '['
		if ok != isArray || (ok && err != nil) {
			t.Fatalf("array: ok %v, unmarshal %v", ok, err)
		}
		if ok && len(items)+len(list) > 0 && !reflect.DeepEqual(compactAll(items), compactAll(list)) {
			t.Fatalf("items: got %q, want %q", items, list)
		}
	})
}

func sameFields(a, b []field) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].key != b[i].key || string(a[i].raw) != string(b[i].raw) {
			return false
		}
	}
	return true
}

func compactAll(list []json.RawMessage) []string {
	out := make([]string, len(list))
	for i, r := range list {
		out[i] = string(r)
	}
	return out
}

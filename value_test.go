package tablecast_test

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/internal/valuetest"
)

func TestAppendJSONValue(t *testing.T) {
	for _, c := range valuetest.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if got := string(tablecast.AppendJSONValue(nil, c.V)); got != c.JSON {
				t.Fatalf("got %s, want %s", got, c.JSON)
			}
		})
	}
	t.Run("Appends", func(t *testing.T) {
		got := string(tablecast.AppendJSONValue([]byte("["), "x"))
		if want := `["x"`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	})
}

// encodingJSON is what encoding/json writes for v, without HTML escaping.
func encodingJSON(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// FuzzAppendJSONValue checks text and reals against encoding/json, which
// both paths used before there was one encoder.
func FuzzAppendJSONValue(f *testing.F) {
	f.Add("<&>\u2028\xff\x00\"\\", 1.5)
	f.Add("", 1e-7)
	f.Add("héllo", 1e21)
	f.Fuzz(func(t *testing.T, s string, x float64) {
		if got, want := string(tablecast.AppendJSONValue(nil, s)), encodingJSON(t, s); got != want {
			t.Fatalf("text %q: got %s, want %s", s, got, want)
		}
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return
		}
		if got, want := string(tablecast.AppendJSONValue(nil, x)), encodingJSON(t, x); got != want {
			t.Fatalf("real %v: got %s, want %s", x, got, want)
		}
	})
}

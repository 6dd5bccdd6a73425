package tablecast_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strconv"
	"strings"
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

// TestAppendJSONValue_Python compares reals with what Python's
// json.dumps writes (Datasette's JSON) for 9000 doubles: every decade's
// boundaries, random bit patterns, whole numbers and short decimals.
// testdata/pyfloat.txt was written by python3 (json.dumps(float)).
func TestAppendJSONValue_Python(t *testing.T) {
	data, err := os.ReadFile("testdata/pyfloat.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		hex, want, ok := strings.Cut(line, " ")
		bits, err := strconv.ParseUint(hex, 16, 64)
		if !ok || err != nil {
			t.Fatalf("bad line %q", line)
		}
		f := math.Float64frombits(bits)
		if got := string(tablecast.AppendJSONValue(nil, f)); got != want {
			t.Errorf("%v (%s): got %s, want %s", f, hex, got, want)
		}
		n++
	}
	if n < 9000 {
		t.Fatalf("only %d cases", n)
	}
}

// FuzzAppendJSONValue checks text against encoding/json, which both paths
// used before there was one encoder, and reals against strconv: the JSON
// reads back as the same float64 (sign of zero included), in the fewest
// digits, always with a decimal point or exponent.
func FuzzAppendJSONValue(f *testing.F) {
	f.Add("<&>\u2028\xff\x00\"\\", 1.5)
	f.Add("", 1e-7)
	f.Add("héllo", 1e21)
	f.Add("", 3.0)
	f.Add("", math.Copysign(0, -1))
	f.Fuzz(func(t *testing.T, s string, x float64) {
		if got, want := string(tablecast.AppendJSONValue(nil, s)), encodingJSON(t, s); got != want {
			t.Fatalf("text %q: got %s, want %s", s, got, want)
		}
		got := string(tablecast.AppendJSONValue(nil, x))
		if math.IsInf(x, 0) || math.IsNaN(x) {
			if got != "null" {
				t.Fatalf("real %v: got %s, want null", x, got)
			}
			return
		}
		back, err := strconv.ParseFloat(got, 64)
		if err != nil || math.Float64bits(back) != math.Float64bits(x) {
			t.Fatalf("real %v: %s reads back as %v (%v)", x, got, back, err)
		}
		if !strings.ContainsAny(got, ".e") {
			t.Fatalf("real %v: %s has no decimal point or exponent", x, got)
		}
		if !json.Valid([]byte(got)) {
			t.Fatalf("real %v: %s is not JSON", x, got)
		}
		// Shortest: the same significant digits as strconv's shortest.
		e := strconv.FormatFloat(math.Abs(x), 'e', -1, 64)
		want := strings.Replace(e[:strings.IndexByte(e, 'e')], ".", "", 1)
		mant := strings.TrimLeft(strings.TrimPrefix(got, "-"), "0.")
		if i := strings.IndexByte(mant, 'e'); i >= 0 {
			mant = mant[:i]
		}
		mant = strings.TrimRight(strings.Replace(mant, ".", "", 1), "0")
		if x == 0 {
			mant = "0"
		}
		if mant != strings.TrimRight(want, "0") && !(x == 0 && want == "0") {
			t.Fatalf("real %v: %s has digits %s, shortest are %s", x, got, mant, want)
		}
	})
}

// Package valuetest holds the SQLite values, and their JSON, that both
// the read path (replica/) and the write path (primary/) must render the
// same: each side's tests render every case through its own renderer and
// compare with JSON, so the two sides agree byte for byte.
package valuetest

import (
	"math"
	"time"
)

// Case is one value as the SQLite driver hands it over, and its JSON.
type Case struct {
	Name string
	V    any
	JSON string
}

// Cases covers every type the driver returns, with the edge cases of each.
var Cases = []Case{
	{"Null", nil, `null`},
	{"Int", int64(42), `42`},
	{"IntMin", int64(math.MinInt64), `-9223372036854775808`},
	{"Float", 1.5, `1.5`},
	{"FloatWhole", 2.0, `2.0`},
	{"FloatZero", 0.0, `0.0`},
	{"FloatNegWhole", -3.0, `-3.0`},
	{"FloatTenth", 0.1, `0.1`},
	{"FloatNegZero", math.Copysign(0, -1), `-0.0`},
	{"FloatSmall", 1.5e-7, `1.5e-07`},
	{"FloatTenThousandth", 1e-4, `0.0001`},
	{"FloatBelowTenThousandth", 1e-5, `1e-05`},
	{"FloatBelowExp", 1e15, `1000000000000000.0`},
	{"FloatExp", 1e16, `1e+16`},
	{"FloatLarge", 1e100, `1e+100`},
	{"FloatMin", 5e-324, `5e-324`},
	{"FloatMax", math.MaxFloat64, `1.7976931348623157e+308`},
	{"PosInf", math.Inf(1), `null`},
	{"NegInf", math.Inf(-1), `null`},
	{"NaN", math.NaN(), `null`},
	{"Text", "hello", `"hello"`},
	{"TextEmpty", "", `""`},
	{"TextHTML", "<a href='x'>&</a>", `"<a href='x'>&</a>"`},
	{"TextQuotes", `say "hi" \o/`, `"say \"hi\" \\o/"`},
	{"TextControl", "a\nb\tc\rd\be\ff\x00g\x1f", `"a\nb\tc\rd\be\ff\u0000g\u001f"`},
	{"TextUnicode", "héllo ✓ 😀", `"héllo ✓ 😀"`},
	{"TextLineSeparators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
	{"TextInvalidUTF8", "a\xffb\xc3", `"a\ufffdb\ufffd"`},
	{"Blob", []byte{0, 1, 0xfe, 0xff}, `{"$base64":true,"encoded":"AAH+/w=="}`},
	{"BlobEmpty", []byte{}, `{"$base64":true,"encoded":""}`},
	{"BoolTrue", true, `true`},
	{"BoolFalse", false, `false`},
	{"Time", time.Date(2026, 12, 4, 5, 30, 0, 120000000, time.UTC), `"2026-12-04T05:30:00.12Z"`},
}

package replica

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/replica/gate"
)

func seedBlobs(f *fixture) {
	f.MustExec("demo", gate.PublicTablesDDL,
		`CREATE TABLE files (id INTEGER PRIMARY KEY, name TEXT, "my data" BLOB, data BLOB)`,
		`INSERT INTO files VALUES (1, 'a', x'00ff0a', x'cafe'), (2, 'b', NULL, 'text'), (3, 'c', x'', 1.0)`,
		`CREATE TABLE secretfiles (id INTEGER PRIMARY KEY, data BLOB)`,
		`INSERT INTO secretfiles VALUES (1, x'00')`,
		`CREATE TABLE norowid (k TEXT PRIMARY KEY, data BLOB) WITHOUT ROWID`,
		`INSERT INTO norowid VALUES ('x y', x'01')`,
		`CREATE VIEW fileview AS SELECT id, data FROM files`,
		publish("files"), publish("norowid"), publish("fileview"))
}

// TestReader_Blob: /{db}/{table}/{key}.blob?_blob_column=col answers the
// value's bytes as Datasette's blob renderer does, and the CSV of a table
// links its blobs there.
func TestReader_Blob(t *testing.T) {
	f := newFixture(t)
	seedBlobs(f)
	for _, tc := range []struct {
		path, body, file string
	}{
		{"/demo/files/1.blob?_blob_column=my+data", "\x00\xff\n", `attachment; filename="files-1-my-data-1291e1.blob"`},
		{"/demo/files/1.blob?_blob_column=data", "\xca\xfe", `attachment; filename="files-1-data.blob"`},
		{"/demo/files/2.blob?_blob_column=my%20data", "", `attachment; filename="files-2-my-data-1291e1.blob"`},
		{"/demo/files/2.blob?_blob_column=data", "text", `attachment; filename="files-2-data.blob"`},
		{"/demo/files/3.blob?_blob_column=data&x=1", "1.0", `attachment; filename="files-3-data.blob"`},
		{"/demo/norowid/x%20y.blob?_blob_column=data", "\x01", `attachment; filename="norowid-x%20y-data.blob"`},
	} {
		for range 2 { // the second from the cache
			status, h, raw := f.MustFetch(tc.path)
			if status != 200 || raw != tc.body || h.Get("Content-Type") != "application/binary" || h.Get("Content-Disposition") != tc.file ||
				h.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("%s: %d %q %v", tc.path, status, raw, h)
			}
		}
	}
	sum := sha256.Sum256([]byte{0xca, 0xfe})
	hash := hex.EncodeToString(sum[:])
	if status, h, raw := f.MustFetch("/demo/files/1.blob?_blob_column=data&_blob_hash=" + hash); status != 200 || raw != "\xca\xfe" ||
		h.Get("Content-Disposition") != `attachment; filename="files-1-data-`+hash[:6]+`.blob"` {
		t.Fatalf("hash: %d %q %v", status, raw, h)
	}
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/demo/files/1.blob", 400, `"error":"?_blob_column= is required"`},
		{"/demo/files/1.blob?_blob_column=nope", 400, `"error":"nope is not a valid column"`},
		{"/demo/files/1.blob?_blob_column=data&_blob_hash=abc", 400, `Link has expired`},
		{"/demo/files/9.blob?_blob_column=data", 404, `"ok":false`},
		{"/demo/files.blob?_blob_column=data", 404, `"ok":false`},
	} {
		if status, _, raw := f.MustFetch(tc.path); status != tc.status || !strings.Contains(raw, tc.want) {
			t.Errorf("%s: %d %s, want %d %s", tc.path, status, raw, tc.status, tc.want)
		}
	}
	t.Run("PrivateAsMissing", func(t *testing.T) {
		for _, q := range []string{"", "?_blob_column=data", "?_blob_column=nope", "?_blob_column=data&_blob_hash=x"} {
			for _, pair := range [][2]string{{"/demo/secretfiles/1.blob", "/demo/nosuchtbl/1.blob"}, {"/ghost/t/1.blob", "/nodbx/t/1.blob"}} {
				f.MustExec("ghost", gate.PublicTablesDDL, `CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, data BLOB)`, `INSERT OR IGNORE INTO t VALUES (1, x'00')`)
				s1, h1, b1 := f.MustFetch(pair[0] + q)
				s2, h2, b2 := f.MustFetch(pair[1] + q)
				b1 = strings.NewReplacer("secretfiles", "X", "ghost", "X").Replace(b1)
				b2 = strings.NewReplacer("nosuchtbl", "X", "nodbx", "X").Replace(b2)
				h1.Del("Date")
				h2.Del("Date")
				if s1 != s2 || b1 != b2 || !sameHeaders(h1, h2) || s1 != 404 {
					t.Errorf("%s%s: %d %v %q\nmissing: %d %v %q", pair[0], q, s1, h1, b1, s2, h2, b2)
				}
			}
		}
	})
	t.Run("CSVLinksBlobs", func(t *testing.T) {
		f.reader.BaseURL = "https://data.example"
		defer func() { f.reader.BaseURL = "" }()
		want := "id,name,my data,data\r\n" +
			"1,a,https://data.example/demo/files/1.blob?_blob_column=my+data,https://data.example/demo/files/1.blob?_blob_column=data\r\n" +
			"2,b,,text\r\n" +
			"3,c,https://data.example/demo/files/3.blob?_blob_column=my+data,1.0\r\n"
		for _, path := range []string{"/demo/files.csv", "/demo/files.csv?_stream=on"} {
			if status, _, raw := f.MustFetch(path); status != 200 || raw != want {
				t.Errorf("%s: %d %q\nwant %q", path, status, raw, want)
			}
		}
		// Each link downloads its value.
		u, _ := url.Parse("https://data.example/demo/files/1.blob?_blob_column=my+data")
		if _, _, raw := f.MustFetch(u.RequestURI()); raw != "\x00\xff\n" {
			t.Errorf("link: %q", raw)
		}
		// A view has no key to link: its blobs stay base64.
		if _, _, raw := f.MustFetch("/demo/fileview.csv"); !strings.Contains(raw, "1,yv4=") {
			t.Errorf("view: %q", raw)
		}
	})
}

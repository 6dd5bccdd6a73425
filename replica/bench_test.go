package replica

import (
	"net/http/httptest"
	"strconv"
	"testing"
)

// BenchmarkReader_PointRead measures the gated point-read handler on a
// plain SQLite file, in process (no network, no FUSE), against the same
// handler with the gate's snapshot checks off.
func BenchmarkReader_PointRead(b *testing.B) {
	f := newFixture(b)
	f.MustExec("demo", gateDDL, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)`,
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 10000) INSERT INTO items SELECT i, 'item ' || i, i / 100.0 FROM c`,
		publish("items"))
	for _, ungated := range []bool{false, true} {
		name := "gated"
		if ungated {
			name = "ungated"
		}
		b.Run(name, func(b *testing.B) {
			f.reader.Ungated = ungated
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					req := httptest.NewRequest("GET", "/demo/items/"+strconv.Itoa(i%10000+1)+".json", nil)
					w := httptest.NewRecorder()
					f.reader.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}

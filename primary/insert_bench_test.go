package primary

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkInsertBatch: one /-/insert of a batch of 1000 CSV-like rows,
// as `tablecast insert -detect-types` sends them, on a plain file (no
// FUSE): the primary's share of an insert's time.
func BenchmarkInsertBatch(b *testing.B) {
	e := newTestEnv(b)
	e.mustPost("/bench/-/create", `{"table":"items","pk":"id","columns":[{"name":"id","type":"integer"},{"name":"name"},{"name":"score","type":"float"},{"name":"city"},{"name":"created"}]}`, 201)
	id := 0
	batch := func() string {
		var s strings.Builder
		s.WriteString(`{"rows":[`)
		for i := range 1000 {
			if i > 0 {
				s.WriteByte(',')
			}
			id++
			fmt.Fprintf(&s, `{"id":%d,"name":"item %d","score":%d.5,"city":"London","created":"2026-12-01"}`, id, id, id%1000)
		}
		s.WriteString(`]}`)
		return s.String()
	}
	bodies := make([]string, b.N)
	for i := range bodies {
		bodies[i] = batch()
	}
	b.ResetTimer()
	for i := range b.N {
		if rec := e.post("/bench/items/-/insert", bodies[i]); rec.Code != 201 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "rows/s")
}

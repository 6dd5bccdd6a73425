package replica

import (
	"net/http"
	"strconv"
	"time"

	"github.com/tablecast/tablecast"
)

// streamChunk is the number of rows each read transaction of a streamed
// CSV reads. Each chunk is its own read transaction, pinned and gated
// like any read: a long download never holds the read lock LiteFS needs
// to apply transactions, and rows stop as soon as the table is private.
const streamChunk = 1000

// serveStream answers a CSV with _stream=on: every row, not one page.
func (r *Reader) serveStream(w http.ResponseWriter, req *http.Request, d *database, rt route) {
	if rt.kind == routeQuery {
		r.streamQuery(w, req, d, rt)
		return
	}
	var tq *tableQuery
	var ext *pageExtras
	var cw *csvWriter
	for {
		var page *pageResult
		var expanded []string
		s, err := r.readRoute(req.Context(), d, rt, func(rd *readTx) (err error) {
			t, err := rd.s.CheckTable(rt.table)
			if err != nil {
				return err
			}
			if tq == nil {
				if tq, err = parseTableQuery(t, rt.query, formatCSV); err != nil {
					return err
				}
				if _, err = prepareSearch(req.Context(), rd.tx, t, tq, rt.query, false); err != nil {
					return err
				}
				tq.size = streamChunk
				if ext, err = parsePageExtras(t, rt.query, formatCSV); err != nil {
					return err
				}
			}
			src, err := r.tableSource(req.Context(), rd, rt.db, tq)
			if err != nil {
				return err
			}
			if page, err = queryPage(req.Context(), src, t, tq); err != nil {
				return ftsError(err)
			}
			// Labels (labels.go), read at each chunk's snapshot.
			if err := ext.run(req.Context(), r, src, rd, rt, t, tq, page, -1); err != nil {
				return err
			}
			expanded = ext.expanded
			return nil
		})
		switch {
		case err != nil && cw == nil:
			writeEntry(w, req, errorEntry(r.logged(req, err), 0))
			return
		case err != nil:
			return // the table went private or the read failed: stop here
		case cw == nil:
			cw = r.startCSV(w, rt.table, tq.dl, s.TXID)
			if req.Method == http.MethodHead {
				return
			}
			if !tq.noHead {
				_ = cw.header(csvLabels(page, expanded).columns)
			}
		}
		blobURLs(rt, page)
		for _, row := range csvLabels(page, expanded).rows {
			_ = cw.row(row)
		}
		if cw.flush() != nil || page.next == nil || req.Context().Err() != nil {
			return
		}
		flush(w)
		tq.next = page.next
	}
}

// startCSV writes the headers of a streamed CSV answer.
func (r *Reader) startCSV(w http.ResponseWriter, name string, dl bool, txid tablecast.TXID) *csvWriter {
	h := w.Header()
	h.Set("Content-Type", contentCSVText)
	h["X-Content-Type-Options"] = nosniffHeader
	if dl {
		h.Set("Content-Type", contentCSV)
		h.Set("Content-Disposition", csvDisposition(name))
	}
	h.Set(tablecast.HeaderTXID, txid.String())
	if r.MaxAge > 0 {
		h.Set("Cache-Control", "public, max-age="+strconv.FormatInt(int64(r.MaxAge/time.Second), 10))
		h.Set("Vary", "Authorization")
	}
	w.WriteHeader(http.StatusOK)
	return newCSVWriter(w)
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

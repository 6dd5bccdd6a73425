package replica

import (
	"crypto/md5" //nolint:gosec // Datasette's to_css_class suffix, not security
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/tablecast/tablecast"
)

// contentBlob is the type of a downloaded value, as Datasette sends it.
const contentBlob = "application/binary"

// blobAnswer answers /{db}/{table}/{key}.blob?_blob_column=col: the raw
// bytes of one value of the row the row page shows (same lookup, same
// gate), as Datasette's blob renderer does: application/binary, an
// attachment named table-key-column.blob. A private column is no column,
// as a missing one. With _blob_hash (Datasette's CSV links of queries),
// the value must still have that SHA-256.
func blobAnswer(rt route, page *pageResult) (*cacheEntry, error) {
	cols, ok := rt.query["_blob_column"]
	if !ok {
		return nil, tablecast.Errorf(tablecast.EINVALID, "?_blob_column= is required")
	}
	col := cols[0]
	i := slices.Index(page.columns, col)
	if i < 0 {
		return nil, tablecast.Errorf(tablecast.EINVALID, "%s is not a valid column", col)
	}
	var body []byte
	switch v := page.rows[0][i].(type) {
	case []byte:
		body = v
	case string:
		body = []byte(v)
	case nil:
		body = []byte{}
	default:
		body = []byte(csvValue(v))
	}
	bits := []string{toCSSClass(rt.table), safeFilename(rt.key), toCSSClass(col)}
	if hashes, ok := rt.query["_blob_hash"]; ok {
		sum := sha256.Sum256(body)
		if h := hashes[0]; h != hex.EncodeToString(sum[:]) {
			return nil, tablecast.Errorf(tablecast.EINVALID, "Link has expired - the requested binary content has changed or could not be found.")
		}
		bits = append(bits, hashes[0][:6])
	}
	return &cacheEntry{status: http.StatusOK, contentType: contentBlob, body: body,
		disposition: `attachment; filename="` + strings.Join(bits, "-") + `.blob"`}, nil
}

// blobURLs replaces each blob of a table's page by the URL that downloads
// it (absolute, as next_url), as Datasette's CSV does. A view's rows have
// no key to name: their blobs stay in base64.
func blobURLs(rt route, page *pageResult) {
	if page.keys == nil {
		return
	}
	for i, row := range page.rows {
		for j, v := range row {
			if _, ok := v.([]byte); ok {
				row[j] = rt.absolute(rowPath(rt.db, rt.table, page.keys[i]) + ".blob?_blob_column=" + url.QueryEscape(page.columns[j]))
			}
		}
	}
}

var (
	cssClassRe     = regexp.MustCompile(`^[a-zA-Z]+[_a-zA-Z0-9-]*$`)
	cssInvalidRe   = regexp.MustCompile(`[^a-zA-Z0-9_\-]`)
	filenameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.,~%-]`)
)

// toCSSClass is Datasette's to_css_class, which names blob downloads: a
// name as it is when it is a plain identifier, else its letters, digits,
// '_' and '-' (whitespace as '-', without leading '_' or '-') and the
// first 6 hex digits of its MD5.
func toCSSClass(s string) string {
	if cssClassRe.MatchString(s) {
		return s
	}
	sum := md5.Sum([]byte(s)) //nolint:gosec
	suffix := hex.EncodeToString(sum[:])[:6]
	s = strings.TrimLeft(s, "_")
	s = strings.TrimLeft(s, "-")
	s = strings.Join(strings.Fields(s), "-")
	s = cssInvalidRe.ReplaceAllString(s, "")
	if s == "" {
		return suffix
	}
	return s + "-" + suffix
}

// safeFilename keeps a key segment (as escaped in the URL) safe inside a
// quoted Content-Disposition filename.
func safeFilename(s string) string { return filenameUnsafe.ReplaceAllString(s, "_") }

package replica

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

// List parameters are bounded: past MaxListValues they are a 400 naming
// the limit, not SQLite's "too many SQL variables" as a 500.
func TestReader_ListLimits(t *testing.T) {
	f := newFixture(t)
	seedPeople(f)
	list := func(n int) string {
		vals := make([]string, n)
		for i := range vals {
			vals[i] = strconv.Itoa(i)
		}
		return strings.Join(vals, ",")
	}
	repeat := func(param string, n int) string {
		return strings.TrimSuffix(strings.Repeat(param+"&", n), "&")
	}
	for _, tc := range []struct {
		name, query string
		status      int
		want        string
	}{
		{"InAtLimit", "id__in=" + list(MaxListValues), 200, ""},
		{"InOverLimit", "id__in=" + list(MaxListValues+1), 400, "at most 1000 values, got 1001"},
		{"InSQLiteMax", "id__in=" + list(32767), 400, "at most 1000 values, got 32767"},
		{"NotInOverLimit", "id__notin=" + list(40000), 400, "id__notin: at most 1000 values"},
		{"InJSONOverLimit", "id__in=[" + list(2000) + "]", 400, "at most 1000 values"},
		{"FiltersOverLimit", repeat("age=1", MaxListValues+1), 400, "Too many filters"},
		{"NullFiltersOverLimit", repeat("age__isnull=1", 5000), 400, "Too many filters"},
		{"ParamsOverGoLimit", repeat("age__isnull=1", 40000), 400, "Too many query parameters"},
		{"IgnoredParamsAtGoLimit", repeat("_nocount=1", tablecast.MaxQueryParams), 200, ""},
		{"UnknownParamsAtGoLimit", repeat("_x=1", tablecast.MaxQueryParams), 400, "Unknown parameter _x"},
		{"IgnoredParamsOverGoLimit", repeat("_x=1", tablecast.MaxQueryParams+1), 400, "Too many query parameters"},
		{"ManyInsTogether", "id__in=" + list(600) + "&age__in=" + list(600), 400, "Too many filters"},
		{"ColsOverLimit", repeat("_col=name", MaxListValues+1), 400, "at most 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/demo/people.json?"+tc.query, nil)
			w := httptest.NewRecorder()
			tablecast.CheckQuery(f.reader).ServeHTTP(w, req) // as the API server runs it
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("status %d, want %d with %q: %.300s", w.Code, tc.status, tc.want, w.Body)
			}
		})
	}
}

// Every public answer is nosniff; pages also get a CSP that allows their
// one inline stylesheet (by its hash) and nothing else, and a referrer
// policy. A JSON or CSV answer gets no CSP (nothing to render).
func TestReader_SecurityHeaders(t *testing.T) {
	f := newFixture(t)
	seedDemo(f)
	for _, tc := range []struct {
		path string
		html bool
		code int
	}{
		{"/demo/cities.json", false, 200},
		{"/demo/cities.csv", false, 200},
		{"/demo/cities.csv?_stream=on", false, 200},
		{"/demo/cities", true, 200},
		{"/demo", true, 200},
		{"/", true, 200},
		{"/.json", false, 200},
		{"/demo/secrets.json", false, 404},
		{"/demo/secrets", true, 404},
		{"/nodb/x.csv?_stream=on", false, 404},
		{"/demo/cities.json?_size=x", false, 400},
	} {
		for range 2 { // the second one from the cache, when cached
			status, h, body := f.MustFetch(tc.path)
			if status != tc.code || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("%s: %d, nosniff %q", tc.path, status, h.Get("X-Content-Type-Options"))
			}
			csp := h.Get("Content-Security-Policy")
			if !tc.html {
				if csp != "" {
					t.Fatalf("%s: CSP on a non-page: %q", tc.path, csp)
				}
				continue
			}
			if h.Get("Referrer-Policy") != "same-origin" || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Fatalf("%s: CSP %q, Referrer-Policy %q", tc.path, csp, h.Get("Referrer-Policy"))
			}
			// The style element the page carries is the one the CSP allows.
			style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(body)
			if style == nil {
				t.Fatalf("%s: no style element", tc.path)
			}
			sum := sha256.Sum256([]byte(style[1]))
			if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
				t.Fatalf("%s: CSP %q does not allow the page's style (%s)", tc.path, csp, want)
			}
			if strings.Contains(body, "<script") || strings.Contains(body, " style=") {
				t.Fatalf("%s: a script or inline style attribute the CSP would block", tc.path)
			}
		}
	}
}

// The ETag is a keyed hash of the cache key: it is not the unkeyed hash
// of any key (which could be found by trying table versions and offsets),
// it is the same under the same key (nodes of one cluster agree) and
// differs under another; 304s still work.
func TestReader_ETagKeyed(t *testing.T) {
	etags := map[string]string{}
	for _, key := range []string{"k1", "k1", "k2"} {
		f := newFixture(t)
		f.reader.ETagKey = []byte(key)
		// The base is part of the key: nodes agree on ETags when they
		// agree on it (each fixture has its own port).
		f.reader.BaseURL = "https://data.example"
		seedDemo(f)
		_, h, _ := f.MustFetch("/demo/cities.json")
		etag := h.Get("ETag")
		if !regexp.MustCompile(`^"[A-Za-z0-9_-]{22}"$`).MatchString(etag) {
			t.Fatalf("ETag %q", etag)
		}
		if status, _, _ := f.MustFetch("/demo/cities.json", "If-None-Match", etag); status != 304 {
			t.Fatalf("If-None-Match %s: %d", etag, status)
		}
		// Not the old unkeyed FNV-1a of the key at any version or offset.
		s := f.reader.openDB("demo").last.Load()
		rt, _ := parseRoute(httptest.NewRequest("GET", "/demo/cities.json", nil).URL)
		for v := int64(0); v < 50; v++ {
			s2 := gate.NewSnapshot(s.TXID, s.Tables()...)
			s2.Offset, s2.AllTables, s2.AllowSQL, s2.Versions = s.Offset, s.AllTables, s.AllowSQL, map[string]int64{"cities": v}
			if fnv(cacheKey(s2, rt)) == etag {
				t.Fatalf("ETag %s is the unkeyed hash of the key at version %d", etag, v)
			}
		}
		if prev, ok := etags[key]; ok && prev != etag {
			t.Fatalf("same key %q, ETags %s and %s", key, prev, etag)
		}
		etags[key] = etag
	}
	if etags["k1"] == etags["k2"] {
		t.Fatalf("different keys, same ETag %s", etags["k1"])
	}
	// No key set: a random one per Reader.
	a, b := newFixture(t), newFixture(t)
	seedDemo(a)
	seedDemo(b)
	_, ha, _ := a.MustFetch("/demo/cities.json")
	_, hb, _ := b.MustFetch("/demo/cities.json")
	if ha.Get("ETag") == hb.Get("ETag") || ha.Get("ETag") == "" {
		t.Fatalf("unkeyed readers: %q %q", ha.Get("ETag"), hb.Get("ETag"))
	}
}

// fnv is the ETag tablecast used to send: FNV-1a of the cache key.
func fnv(key string) string {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return `"` + strconv.FormatUint(h, 36) + `"`
}

package primary

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// upload sends a file to the upload form, as a browser does.
func (b *browser) upload(name, data string, fields url.Values) (*http.Response, string) {
	b.tb.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if _, ok := fields["csrf"]; !ok {
		_ = mw.WriteField("csrf", b.csrf)
	}
	for k, vs := range fields {
		for _, v := range vs {
			_ = mw.WriteField(k, v)
		}
	}
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write([]byte(data))
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.base+"/-/admin/upload", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

var uploadIDField = regexp.MustCompile(`name="id" value="([0-9a-f]+)"`)

func TestAdmin_UploadCSV(t *testing.T) {
	e := newAdminEnv(t)
	e.admin.UploadDir = t.TempDir()
	b := e.browser()
	b.signIn(testSecret)
	b.get("/-/admin/upload")
	csv := "id,name,weight\n1,Cleo,4.5\n2,\"Pancakes, the dog\",\n3,Bo,12\n"

	resp, page := b.upload("my dogs.csv", csv, url.Values{"new_db": {"kennel"}})
	wantStatus(t, resp, page, http.StatusOK)
	for _, want := range []string{`<b id="total">3</b>`, "<th>weight</th>", "<code>integer</code>", "<code>float</code>", "<td>Pancakes, the dog</td>", `value="my_dogs"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("preview lacks %q:\n%s", want, page)
		}
	}
	id := uploadIDField.FindStringSubmatch(page)[1]
	create := url.Values{"id": {id}, "file": {"my dogs.csv"}, "db": {""}, "new_db": {"kennel"}, "table": {"dogs"}, "pk": {"id"}, "detect": {"1"}}

	t.Run("CSRF", func(t *testing.T) {
		form := url.Values{"csrf": {"wrong"}}
		for k, v := range create {
			form[k] = v
		}
		resp, body := b.post("/-/admin/upload/create", form)
		wantStatus(t, resp, body, http.StatusForbidden)
		resp, body = b.upload("x.csv", csv, url.Values{"csrf": {"wrong"}})
		wantStatus(t, resp, body, http.StatusForbidden)
	})
	t.Run("BadTableNameShownOnThePage", func(t *testing.T) {
		form := url.Values{}
		for k, v := range create {
			form[k] = v
		}
		form.Set("table", "_x")
		resp, body := b.post("/-/admin/upload/create", form)
		wantStatus(t, resp, body, http.StatusBadRequest)
		if !strings.Contains(body, `class="error"`) || !strings.Contains(body, `id="preview"`) {
			t.Fatalf("no error with the preview: %s", body)
		}
	})
	t.Run("Create", func(t *testing.T) {
		resp, body := b.post("/-/admin/upload/create", create)
		wantStatus(t, resp, body, http.StatusSeeOther)
		if loc := resp.Header.Get("Location"); !strings.Contains(loc, "db=kennel") || !strings.Contains(loc, "public=false") {
			t.Fatalf("redirect to %s", loc)
		}
		got := e.query("kennel", "SELECT id, typeof(id), name, weight, typeof(weight) FROM dogs ORDER BY id")
		want := [][]string{{"1", "integer", "Cleo", "4.5", "real"}, {"2", "integer", "Pancakes, the dog", "<nil>", "null"}, {"3", "integer", "Bo", "12", "real"}}
		if len(got) != 3 || strings.Join(got[1], "|") != strings.Join(want[1], "|") || got[2][4] != "real" {
			t.Fatalf("got %v, want %v", got, want)
		}
		if pub := e.query("kennel", "SELECT count(*) FROM _public_tables"); pub[0][0] != "0" {
			t.Fatalf("the uploaded table is public: %v", pub)
		}
		// The upload is used up.
		resp, body = b.post("/-/admin/upload/create", create)
		if resp.StatusCode == http.StatusSeeOther || !strings.Contains(body, "upload the file again") {
			t.Fatalf("second create: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("BadFile", func(t *testing.T) {
		b.get("/-/admin/upload")
		resp, body := b.upload("bad.csv", "a,b\n1,2\n3,4,5\n", url.Values{"db": {"kennel"}})
		wantStatus(t, resp, body, http.StatusBadRequest)
		if !strings.Contains(body, "bad.csv: line 3, column 5 (record 2): 3 values, but the header names 2 columns") {
			t.Fatalf("error not shown: %s", body)
		}
	})
	t.Run("TooLarge", func(t *testing.T) {
		e.admin.MaxUpload = 100
		defer func() { e.admin.MaxUpload = 0 }()
		b.get("/-/admin/upload")
		resp, body := b.upload("big.csv", "a\n"+strings.Repeat("x\n", 70<<10), nil)
		wantStatus(t, resp, body, http.StatusRequestEntityTooLarge)
		if !strings.Contains(body, "The file is too large") {
			t.Fatalf("error not shown: %s", body)
		}
	})
}

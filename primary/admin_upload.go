package primary

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/internal/rowfile"
)

// The admin pages' "Upload a CSV": a form sends the file (multipart); the
// primary keeps it in a temporary folder and shows the first rows and the
// types detected over the whole file; a second form names the table and
// creates it, with every row, in one transaction: private unless asked.
// The file is read with internal/rowfile, as `tablecast insert` reads it.

// DefaultMaxUpload bounds an uploaded CSV file (Admin.MaxUpload).
const DefaultMaxUpload int64 = 64 << 20

const (
	uploadPreviewRows = 10
	uploadTTL         = time.Hour // uploads not turned into a table are removed after this
	auditCSVUpload    = "csv-upload"
)

// uploadView is the upload page: the form, or the preview of an upload.
type uploadView struct {
	Databases []string
	MaxMB     int64
	// The preview, once a file is uploaded.
	ID, File, DB, NewDB, Table string
	Columns                    []uploadColumn
	Rows                       [][]string
	Total                      int
}

type uploadColumn struct {
	Name, Type string
}

func (a *Admin) maxUpload() int64 {
	if a.MaxUpload > 0 {
		return a.MaxUpload
	}
	return DefaultMaxUpload
}

// uploadDir holds uploads between the preview and the create: next to
// the databases' mount, never in it (LiteFS would replicate it).
func (a *Admin) uploadDir() string {
	if a.UploadDir != "" {
		return a.UploadDir
	}
	return filepath.Join(os.TempDir(), "tablecast-uploads")
}

func (a *Admin) uploadPage(w http.ResponseWriter, r *http.Request, s *session) {
	a.renderUpload(w, r, s, http.StatusOK, uploadView{}, "")
}

func (a *Admin) renderUpload(w http.ResponseWriter, r *http.Request, s *session, status int, v uploadView, msg string) {
	dbs, err := a.Writer.databases()
	if err != nil {
		a.fail(w, r, s, err)
		return
	}
	v.Databases, v.MaxMB = dbs, a.maxUpload()>>20
	a.render(w, r, status, "upload", &pageData{Title: "Upload a CSV", Session: s, Error: msg, Body: v})
}

// uploadForm wraps the multipart POST of a file: form's checks (same
// site, session, CSRF), with the upload's own size limit.
func (a *Admin) uploadForm(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		switch r.Header.Get("Sec-Fetch-Site") {
		case "cross-site", "same-site":
			a.fail(w, r, nil, tablecast.Errorf(tablecast.EFORBIDDEN, "Forms from other sites are refused"))
			return
		}
		s, err := a.session(r)
		if errors.Is(err, errNoSession) {
			a.fail(w, r, nil, tablecast.Errorf(tablecast.EUNAUTHORIZED, "Your session has ended: sign in again"))
			return
		} else if err != nil {
			a.fail(w, r, nil, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.maxUpload()+maxFormBytes)
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				a.renderUpload(w, r, s, http.StatusRequestEntityTooLarge, uploadView{}, fmt.Sprintf("The file is too large: the limit is %d MB", a.maxUpload()>>20))
				return
			}
			a.fail(w, r, s, tablecast.Errorf(tablecast.EINVALID, "Cannot read the form: %v", err))
			return
		}
		defer func() { _ = r.MultipartForm.RemoveAll() }()
		if !sameSecret(r.PostFormValue("csrf"), s.csrf()) {
			a.fail(w, r, s, errCSRF)
			return
		}
		h(w, r, s)
	}
}

// uploadPreview keeps the uploaded file and shows its first rows and
// detected types, with the form that creates the table.
func (a *Admin) uploadPreview(w http.ResponseWriter, r *http.Request, s *session) {
	v := uploadView{DB: r.PostFormValue("db"), NewDB: strings.TrimSpace(r.PostFormValue("new_db"))}
	f, fh, err := r.FormFile("file")
	if err != nil {
		a.renderUpload(w, r, s, http.StatusBadRequest, v, "Choose a CSV file to upload")
		return
	}
	defer f.Close()
	v.File = fh.Filename
	v.ID, err = a.keepUpload(f)
	if err != nil {
		a.fail(w, r, s, err)
		return
	}
	v.Table = tableNameFor(fh.Filename)
	if err := a.preview(&v); err != nil {
		_ = os.Remove(a.uploadPath(v.ID))
		a.renderUpload(w, r, s, http.StatusBadRequest, uploadView{DB: v.DB, NewDB: v.NewDB}, err.Error())
		return
	}
	a.renderUpload(w, r, s, http.StatusOK, v, "")
}

// keepUpload copies an upload to the upload folder under a random ID,
// and removes uploads older than uploadTTL.
func (a *Admin) keepUpload(src io.Reader) (string, error) {
	dir := a.uploadDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("upload folder: %w", err)
	}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > uploadTTL {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b[:])
	dst, err := os.OpenFile(a.uploadPath(id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("keep upload: %w", err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		return "", fmt.Errorf("keep upload: %w", err)
	}
	return id, dst.Close()
}

var uploadID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (a *Admin) uploadPath(id string) string {
	return filepath.Join(a.uploadDir(), id+".csv")
}

// preview reads the whole upload: its detected types, its row count and
// its first rows.
func (a *Admin) preview(v *uploadView) error {
	var tr rowfile.Tracker
	err := eachUploadRow(a.uploadPath(v.ID), v.File, func(row *rowfile.Row) {
		tr.Observe(row)
		v.Total++
		if len(v.Rows) < uploadPreviewRows {
			cells := make([]string, len(row.Values))
			for i, val := range row.Values {
				cells[i] = val.Text
			}
			v.Rows = append(v.Rows, cells)
		}
	}, func(header []string) {
		for _, name := range header {
			v.Columns = append(v.Columns, uploadColumn{Name: name})
		}
	})
	if err != nil {
		return err
	}
	if v.Total > 0 {
		for i, t := range tr.Types() {
			v.Columns[i].Type = t.String()
		}
	} else {
		for i := range v.Columns {
			v.Columns[i].Type = rowfile.TextType.String()
		}
	}
	return nil
}

// eachUploadRow reads an uploaded CSV file (TSV when named so).
func eachUploadRow(path, name string, each func(*rowfile.Row), header func([]string)) error {
	f, err := os.Open(path)
	if err != nil {
		return tablecast.Errorf(tablecast.EINVALID, "The upload is gone (uploads are kept for %s): upload the file again", uploadTTL)
	}
	defer f.Close()
	format := rowfile.CSV
	if got, ok := rowfile.FormatOf(name); ok && got == rowfile.TSV {
		format = rowfile.TSV
	}
	r := rowfile.NewReader(f, name, format)
	h, err := r.Header()
	if err != nil {
		return err
	}
	if header != nil {
		header(h)
	}
	for {
		row, err := r.Next()
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		each(row)
	}
}

// tableNameFor makes a table name of a file name: its base without the
// extension, characters other than letters, digits and _ as _.
func tableNameFor(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	name := strings.Map(func(r rune) rune {
		if r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, base)
	if name == "" || name[0] >= '0' && name[0] <= '9' || strings.HasPrefix(name, "_") {
		name = "t" + name
	}
	return name
}

// uploadCreate creates the table of a previewed upload with all its rows,
// then shows which nodes have applied it.
func (a *Admin) uploadCreate(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.principal.require(ScopeWrite); err != nil {
		a.fail(w, r, s, err)
		return
	}
	id, file := r.PostFormValue("id"), r.PostFormValue("file")
	db, table := r.PostFormValue("db"), strings.TrimSpace(r.PostFormValue("table"))
	if db == "" {
		db = strings.TrimSpace(r.PostFormValue("new_db"))
	}
	public := r.PostFormValue("public") == "1"
	if !uploadID.MatchString(id) {
		a.fail(w, r, s, tablecast.Errorf(tablecast.EINVALID, "Invalid upload: upload the file again"))
		return
	}
	v := uploadView{ID: id, File: file, DB: r.PostFormValue("db"), NewDB: r.PostFormValue("new_db"), Table: table}
	again := func(status int, msg string) {
		if err := a.preview(&v); err != nil {
			a.renderUpload(w, r, s, status, uploadView{}, msg)
			return
		}
		a.renderUpload(w, r, s, status, v, msg)
	}
	if public {
		if err := s.principal.require(ScopePublish); err != nil {
			again(http.StatusForbidden, tablecast.ErrorMessage(err))
			return
		}
	}
	spec, err := a.uploadSpec(r, id, file, table)
	if err == nil {
		err = tablecast.ValidateDBName(db)
	}
	var txid tablecast.TXID
	if err == nil {
		txid, err = a.Writer.createUploaded(r.Context(), db, spec, public, s.principal.Name, func(each func(*rowfile.Row)) error {
			return eachUploadRow(a.uploadPath(id), file, each, nil)
		})
	}
	if code := tablecast.ErrorCode(err); code == tablecast.EINVALID || code == tablecast.ENOTFOUND || code == tablecast.ECONFLICT {
		again(tablecast.StatusOf(code), tablecast.ErrorMessage(err))
		return
	} else if err != nil {
		var fe *rowfile.Error
		if errors.As(err, &fe) {
			again(http.StatusBadRequest, fe.Error())
			return
		}
		a.fail(w, r, s, err)
		return
	}
	_ = os.Remove(a.uploadPath(id))
	q := url.Values{"db": {db}, "table": {spec.table}, "public": {strconv.FormatBool(public)}, "txid": {txid.String()}, "created": {"1"}}
	http.Redirect(w, r, "/-/admin/applied?"+q.Encode(), http.StatusSeeOther)
}

// uploadSpec reads an upload's header and types into a create request
// (no rows: createUploaded streams them): columns as detected (or all
// text), an optional primary key.
func (a *Admin) uploadSpec(r *http.Request, id, file, table string) (*createRequest, error) {
	if err := tablecast.ValidateTableName(table); err != nil {
		return nil, err
	}
	detect := r.PostFormValue("detect") == "1"
	var tr rowfile.Tracker
	var header []string
	if err := eachUploadRow(a.uploadPath(id), file, tr.Observe, func(h []string) { header = h }); err != nil {
		return nil, err
	}
	types := tr.Types()
	spec := &createRequest{table: table}
	for i, name := range header {
		if err := tablecast.ValidateColumnName(name); err != nil {
			return nil, err
		}
		typ := typeText
		if detect && i < len(types) {
			typ = map[rowfile.Type]string{rowfile.Integer: typeInteger, rowfile.Float: typeFloat}[types[i]]
			if typ == "" {
				typ = typeText
			}
		}
		spec.cols = append(spec.cols, newColumn(name, typ))
	}
	if len(spec.cols) > maxColumns {
		return nil, tablecast.Errorf(tablecast.EINVALID, "Too many columns: %d, the limit is %d", len(spec.cols), maxColumns)
	}
	if pk := r.PostFormValue("pk"); pk != "" {
		p := params{"pk": []byte(strconv.Quote(pk))}
		pks, err := createPKs(p, spec.cols)
		if err != nil {
			return nil, err
		}
		spec.pks = pks
	}
	return spec, nil
}

// uploadArg is the SQLite value of a CSV value in a column of type typ:
// detected types fit every value of their column (empty text is null).
func uploadArg(v rowfile.Value, typ string) any {
	if v.Kind == rowfile.Null || (typ != typeText && v.Text == "") {
		return nil
	}
	switch typ {
	case typeInteger:
		if i, err := strconv.ParseInt(strings.TrimSpace(v.Text), 10, 64); err == nil {
			return i
		}
	case typeFloat:
		if f, err := strconv.ParseFloat(strings.TrimSpace(v.Text), 64); err == nil {
			return f
		}
	}
	return v.Text
}

// createUploaded creates a table with its rows, public if asked, in one
// transaction, and audits it in the admin audit log.
func (w *Writer) createUploaded(ctx context.Context, db string, spec *createRequest, public bool, token string, rows func(func(*rowfile.Row)) error) (tablecast.TXID, error) {
	w.createMu.Lock()
	defer w.createMu.Unlock()
	existed, err := w.fileExists(db)
	if err != nil {
		return 0, err
	}
	h, err := w.open(db, true)
	if err != nil {
		return 0, err
	}
	txid, err := w.write(ctx, db, h, func(tx *sql.Tx) error {
		if err := createIn(ctx, tx, spec); err != nil {
			return err
		}
		if err := insertUploaded(ctx, tx, spec, rows); err != nil {
			return err
		}
		if public {
			return setPublic(ctx, tx, spec.table, true, token)
		}
		return nil
	})
	if err != nil {
		if !existed {
			if rerr := w.remove(db); rerr != nil {
				w.logger().Error("remove database after failed upload", "db", db, "err", rerr)
			}
		}
		return 0, err
	}
	w.logger().Info("csv uploaded", "db", db, "table", spec.table, "public", public, "token", token, "txid", txid)
	e := AuditEntry{Token: token, Action: auditCSVUpload, DB: db, Target: spec.table, TXID: txid.String()}
	actx := context.WithoutCancel(ctx)
	if _, err := w.Control().write(actx, func(tx *sql.Tx) error { return appendAudit(actx, tx, e) }); err != nil {
		w.logger().Error("admin audit", "action", auditCSVUpload, "db", db, "table", spec.table, "txid", txid, "err", err)
	}
	if public {
		w.auditVisibility(ctx, db, spec.table, true, token, txid)
	}
	return txid, nil
}

// insertUploaded inserts every row of an upload with one prepared
// statement, streaming: memory does not grow with the file.
func insertUploaded(ctx context.Context, tx *sql.Tx, spec *createRequest, rows func(func(*rowfile.Row)) error) error {
	names := make([]string, len(spec.cols))
	for i, c := range spec.cols {
		names[i] = c.name
	}
	t := &table{name: spec.table, cols: spec.cols, pks: spec.pks}
	stmt, err := tx.PrepareContext(ctx, insertSQL(t, "INSERT", names, returnNone))
	if err != nil {
		return sqliteError("prepare insert", err)
	}
	defer stmt.Close()
	args := make([]any, len(names))
	var werr error
	n := 0
	err = rows(func(row *rowfile.Row) {
		if werr != nil {
			return
		}
		n++
		for i, v := range row.Values {
			args[i] = uploadArg(v, spec.cols[i].typ)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			werr = sqliteError("insert row", err)
			if tablecast.ErrorCode(werr) == tablecast.EINVALID {
				werr = tablecast.Errorf(tablecast.EINVALID, "Record %d (line %d): %s", row.Record, row.Line, tablecast.ErrorMessage(werr))
			}
		}
	})
	if werr != nil {
		return werr
	}
	return err
}

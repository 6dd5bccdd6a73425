package primary

import (
	"bytes"
	"context"
	"database/sql"
	_ "embed"
	"html/template"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica/gate"
)

var (
	//go:embed admin.tmpl
	adminTemplates string
	//go:embed admin.css
	adminCSS  []byte
	templates = template.Must(template.New("admin").Funcs(template.FuncMap{"dbForms": dbForms}).Parse(adminTemplates))
)

// auditPageSize is the number of audit entries per page.
const auditPageSize = 50

// pageData is what every admin template gets.
type pageData struct {
	Title   string
	Session *session
	CSRF    string // the form token: the session's, or the sign-in nonce
	User    string // the signed-in token's name
	Error   string
	Refresh bool // reload the page every second
	Body    any
}

func (a *Admin) render(w http.ResponseWriter, r *http.Request, status int, name string, d *pageData) {
	if d.Session != nil {
		d.CSRF, d.User = d.Session.csrf(), d.Session.principal.Name
	}
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, d); err != nil {
		a.logger().Error("render admin page", "page", name, "err", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func serveCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(adminCSS)
}

// dbView is a database on the overview page.
type dbView struct {
	Name      string
	Tables    []tableView
	AllTables bool // the whole database is public
	AllowSQL  bool // public SQL is on
	Error     string
	Queries   []*gate.Query // canned queries (admin_canned.go)
}

// tableView is a table or view: its visibility, rows and last change.
type tableView struct {
	Name   string
	Type   string // "table", "view", or "dropped": public, but gone from the schema
	Public bool
	Rows   int64 // -1 for views and dropped tables
	LastAt string
	LastBy string
	LastDo string // publish or unpublish
}

// overview lists every database with its tables and views.
func (a *Admin) overview(w http.ResponseWriter, r *http.Request, s *session) {
	names, err := a.Writer.databases()
	if err != nil {
		a.fail(w, r, s, err)
		return
	}
	dbs := make([]dbView, len(names))
	for i, name := range names {
		dbs[i].Name = name
		dbs[i].Tables, dbs[i].AllTables, dbs[i].AllowSQL, err = a.Writer.describe(r.Context(), name)
		if err != nil {
			a.logger().Warn("describe database", "db", name, "err", err)
			dbs[i].Error = "Cannot read this database: " + err.Error()
		} else if dbs[i].Queries, err = a.Writer.cannedQueries(r.Context(), name); err != nil {
			dbs[i].Error = "Cannot read the canned queries: " + err.Error()
		}
	}
	a.render(w, r, http.StatusOK, "overview", &pageData{Title: "Databases", Session: s, Body: dbs})
}

// databases lists the databases in Dir, by name.
func (w *Writer) databases() ([]string, error) {
	entries, err := os.ReadDir(w.Dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if name, ok := tablecast.DBNameFromFile(e.Name()); ok && e.Type().IsRegular() {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// describe reads a database's tables and views, which are public, their
// row counts and the last visibility change of each from _public_audit,
// in one read transaction of a read-only connection.
func (w *Writer) describe(ctx context.Context, db string) (tables []tableView, all, allowSQL bool, err error) {
	u := url.URL{Path: w.path(db)}
	conn, err := sql.Open("sqlite3", "file:"+u.EscapedPath()+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, false, false, err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, false, err
	}
	defer func() { _ = tx.Rollback() }()
	if tables, err = schemaObjects(ctx, tx); err != nil {
		return nil, false, false, err
	}
	if err := markPublic(ctx, tx, &tables); err != nil {
		return nil, false, false, err
	}
	for i := range tables {
		if err := describeTable(ctx, tx, &tables[i]); err != nil {
			return nil, false, false, err
		}
	}
	all, allowSQL, err = databaseSwitchesOf(ctx, tx)
	return tables, all, allowSQL, err
}

// schemaObjects lists the tables and views a user made, by name.
func schemaObjects(ctx context.Context, tx *sql.Tx) ([]tableView, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tableView
	for rows.Next() {
		t := tableView{Rows: -1}
		if err := rows.Scan(&t.Name, &t.Type); err != nil {
			return nil, err
		}
		if !tablecast.IsReservedTable(t.Name) {
			out = append(out, t)
		}
	}
	return out, rows.Err()
}

// markPublic sets Public from _public_tables, and adds the public names
// that are no longer in the schema so that they can be made private.
func markPublic(ctx context.Context, tx *sql.Tx, tables *[]tableView) error {
	names, err := gate.Listed(ctx, tx)
	if err != nil {
		return err
	}
	for _, name := range names {
		i := slices.IndexFunc(*tables, func(t tableView) bool { return strings.EqualFold(t.Name, name) })
		if i < 0 {
			*tables = append(*tables, tableView{Name: name, Type: "dropped", Public: true, Rows: -1})
			continue
		}
		(*tables)[i].Public = true
	}
	return nil
}

// describeTable counts a table's rows and finds its last visibility change.
func describeTable(ctx context.Context, tx *sql.Tx, t *tableView) error {
	if t.Type == "table" {
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+tablecast.QuoteIdent(t.Name)).Scan(&t.Rows); err != nil {
			return err
		}
	}
	c, _, err := gate.LastChange(ctx, tx, t.Name)
	t.LastAt, t.LastDo, t.LastBy = c.At, c.Action, c.Token
	return err
}

// dbForm is one button of a database's switches.
type dbForm struct {
	ID, Label string
	All, SQL  int
}

// dbForms are the changes offered from a database's current switches.
func dbForms(db dbView) []dbForm {
	var out []dbForm
	if !db.AllTables || db.AllowSQL {
		out = append(out, dbForm{"all", "Make every table public", 1, 0})
	}
	if !db.AllTables || !db.AllowSQL {
		out = append(out, dbForm{"all-sql", "Make every table public, with public SQL", 1, 1})
	}
	if !db.AllowSQL || db.AllTables {
		out = append(out, dbForm{"sql", "Public SQL over the public tables only", 0, 1})
	}
	if db.AllTables || db.AllowSQL {
		out = append(out, dbForm{"off", "Back to tables marked one by one", 0, 0})
	}
	return out
}

// toggleDB sets a database's switches: every table public (all=1), public
// SQL (sql=1); then shows which nodes have applied the change.
func (a *Admin) toggleDB(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.principal.require(ScopePublish); err != nil {
		a.fail(w, r, s, err)
		return
	}
	db, all, allowSQL := r.PostFormValue("db"), r.PostFormValue("all") == "1", r.PostFormValue("sql") == "1"
	txid, err := a.Writer.SetDatabasePublic(r.Context(), db, all, allowSQL, s.principal.Name)
	if err != nil {
		a.fail(w, r, s, err)
		return
	}
	q := url.Values{"db": {db}, "table": {"*"}, "public": {strconv.FormatBool(all || allowSQL)}, "txid": {txid.String()}}
	http.Redirect(w, r, "/-/admin/applied?"+q.Encode(), http.StatusSeeOther)
}

// toggle makes a table or view public or private, then shows which nodes
// have applied the change.
func (a *Admin) toggle(w http.ResponseWriter, r *http.Request, s *session) {
	if err := s.principal.require(ScopePublish); err != nil {
		a.fail(w, r, s, err)
		return
	}
	db, table, public := r.PostFormValue("db"), r.PostFormValue("table"), r.PostFormValue("public") == "1"
	name, txid, err := a.Writer.SetPublic(r.Context(), db, table, public, s.principal.Name)
	if err != nil {
		a.fail(w, r, s, err)
		return
	}
	q := url.Values{"db": {db}, "table": {name}, "public": {strconv.FormatBool(public)}, "txid": {txid.String()}}
	http.Redirect(w, r, "/-/admin/applied?"+q.Encode(), http.StatusSeeOther)
}

// AppliedNode says whether a node has applied a change.
type AppliedNode struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	Role   string `json:"role"`
	State  string `json:"state"`          // applied, pending or unreachable
	TXID   string `json:"txid,omitempty"` // the node's TXID of the database
	Error  string `json:"error,omitempty"`
}

// Node states after a change.
const (
	appliedYes         = "applied"
	appliedPending     = "pending"
	appliedUnreachable = "unreachable"
)

// applied compares txid with every node's TXID of db; done when every
// node has applied it.
func (a *Admin) applied(ctx context.Context, db string, txid tablecast.TXID) ([]AppliedNode, bool, error) {
	nodes, err := a.nodes(ctx)
	if err != nil {
		return nil, false, err
	}
	out, done := appliedOn(nodes, db, txid)
	return out, done, nil
}

// appliedOn compares txid with each node's TXID of db; done when every
// node has applied it.
func appliedOn(nodes []NodeState, db string, txid tablecast.TXID) ([]AppliedNode, bool) {
	out := make([]AppliedNode, len(nodes))
	done := true
	for i, n := range nodes {
		out[i] = AppliedNode{Name: n.Name, Region: n.Region, Role: n.Role, State: appliedPending, Error: n.Error}
		have, ok := n.TXIDs[db]
		if ok {
			out[i].TXID = have.String()
		}
		switch {
		case !n.Reachable:
			out[i].State = appliedUnreachable
		case ok && have >= txid:
			out[i].State = appliedYes
		}
		done = done && out[i].State == appliedYes
	}
	return out, done
}

// nodes is Nodes, or this node alone.
func (a *Admin) nodes(ctx context.Context) ([]NodeState, error) {
	if a.Nodes != nil {
		return a.Nodes(ctx)
	}
	self := NodeState{Name: "this node", Role: "primary", Reachable: true, TXIDs: map[string]tablecast.TXID{}}
	names, err := a.Writer.databases()
	for _, db := range names {
		if t, ok := a.Writer.Positions.TXID(db); ok {
			self.TXIDs[db] = t
		}
	}
	return []NodeState{self}, err
}

// appliedQuery reads db and txid from the query string.
func appliedQuery(r *http.Request) (string, tablecast.TXID, error) {
	db := r.URL.Query().Get("db")
	if err := tablecast.ValidateDBName(db); err != nil {
		return "", 0, err
	}
	txid, err := tablecast.ParseTXID(r.URL.Query().Get("txid"))
	return db, txid, err
}

// appliedView is the page after a toggle.
type appliedView struct {
	DB, Table, TXID string
	Public          bool
	Created         bool // made by an upload, not a toggle
	Nodes           []AppliedNode
	Done            bool
}

func (a *Admin) appliedPage(w http.ResponseWriter, r *http.Request, s *session) {
	db, txid, err := appliedQuery(r)
	if err != nil {
		a.fail(w, r, s, err)
		return
	}
	nodes, done, err := a.applied(r.Context(), db, txid)
	if err != nil {
		a.fail(w, r, s, err)
		return
	}
	q := r.URL.Query()
	v := appliedView{DB: db, Table: q.Get("table"), TXID: txid.String(), Public: q.Get("public") == "true", Created: q.Get("created") == "1", Nodes: nodes, Done: done}
	a.render(w, r, http.StatusOK, "applied", &pageData{Title: "Applied?", Session: s, Refresh: !done, Body: v})
}

// auditView is a page of the audit log.
type auditView struct {
	Entries []AuditEntry
	Older   int64 // the before= of the next page; 0 on the last page
	First   bool  // the newest page
}

func (a *Admin) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	entries, older, err := a.auditPageOf(r.Context(), before, auditPageSize)
	if err != nil {
		a.fail(w, r, s, err)
		return
	}
	a.render(w, r, http.StatusOK, "audit", &pageData{Title: "Audit log", Session: s,
		Body: auditView{Entries: entries, Older: older, First: before <= 0}})
}

// auditPageOf returns up to limit entries before an ID, and the ID to ask
// for the next page with (0: none).
func (a *Admin) auditPageOf(ctx context.Context, before int64, limit int) ([]AuditEntry, int64, error) {
	entries, err := a.Writer.Control().Audit(ctx, before, limit+1)
	if err != nil || len(entries) <= limit {
		return entries, 0, err
	}
	entries = entries[:limit]
	return entries, entries[limit-1].ID, nil
}

// tokensView is the tokens page; Secret is shown once, after a create.
type tokensView struct {
	Tokens    []TokenInfo
	Scopes    []string
	NewName   string
	NewSecret string
	Synced    bool
}

func (a *Admin) tokensPage(w http.ResponseWriter, r *http.Request, s *session) {
	a.renderTokens(w, r, s, http.StatusOK, tokensView{}, "")
}

func (a *Admin) renderTokens(w http.ResponseWriter, r *http.Request, s *session, status int, v tokensView, msg string) {
	list, err := a.Tokens.List(r.Context())
	if err != nil {
		a.fail(w, r, s, err)
		return
	}
	v.Tokens, v.Scopes = list, AllScopes
	a.render(w, r, status, "tokens", &pageData{Title: "Tokens", Session: s, Error: msg, Body: v})
}

// createToken makes a token from the form and shows its secret once.
func (a *Admin) createToken(w http.ResponseWriter, r *http.Request, s *session) {
	req := NewToken{Name: strings.TrimSpace(r.PostFormValue("name")), Scopes: r.PostForm["scope"],
		Expires: strings.TrimSpace(r.PostFormValue("expires"))}
	info, secret, txid, err := a.Tokens.Create(r.Context(), req, s.principal.Name)
	if code := tablecast.ErrorCode(err); code == tablecast.EINVALID || code == tablecast.ECONFLICT {
		a.renderTokens(w, r, s, tablecast.StatusOf(code), tokensView{}, tablecast.ErrorMessage(err))
		return
	} else if err != nil {
		a.fail(w, r, s, err)
		return
	}
	synced := a.sync(r.Context(), txid)
	a.renderTokens(w, r, s, http.StatusCreated, tokensView{NewName: info.Name, NewSecret: secret, Synced: synced}, "")
}

func (a *Admin) revokeToken(w http.ResponseWriter, r *http.Request, s *session) {
	_, txid, err := a.Tokens.Revoke(r.Context(), r.PostFormValue("name"), s.principal.Name)
	if err != nil {
		a.fail(w, r, s, err)
		return
	}
	a.sync(r.Context(), txid)
	http.Redirect(w, r, "/-/admin/tokens", http.StatusSeeOther)
}

// sync waits, bounded, for another candidate to apply a change of
// _tablecast.db, so that a token made or revoked survives the loss of this
// node. It reports whether one did; the change is committed either way.
func (a *Admin) sync(ctx context.Context, txid tablecast.TXID) bool {
	if a.Writer.Sync == nil || txid == 0 {
		return false
	}
	if err := a.Writer.sync(ctx, ControlDBName, txid); err != nil {
		a.logger().Warn("token change not confirmed by another candidate", "txid", txid, "err", err)
		return false
	}
	return true
}

package gate

import (
	"context"
	"testing"
)

// TestAttack_FTSOverPrivateContent: an FTS index reads its rows from its
// content= table, so it is public only when that table is: published
// alone over a private table it is neither Visible nor TablePublic.
func TestAttack_FTSOverPrivateContent(t *testing.T) {
	db := mustOpen(t, PublicTablesDDL,
		`CREATE TABLE secrets (id INTEGER PRIMARY KEY, secret TEXT)`,
		`INSERT INTO secrets VALUES (1, 'hunter2')`,
		`CREATE VIRTUAL TABLE secrets_fts USING fts4(secret, content="secrets")`,
		`CREATE VIRTUAL TABLE secrets_fts2 USING fts4(secret, content='Secrets', tokenize=porter)`,
		`CREATE TABLE pubc (id INTEGER PRIMARY KEY, t TEXT)`,
		`CREATE VIRTUAL TABLE pubc_fts USING fts4(t, content=[PUBC])`,
		`CREATE VIRTUAL TABLE own_fts USING fts4(t)`,
		publish("secrets_fts"), publish("secrets_fts2"), publish("pubc"), publish("pubc_fts"), publish("own_fts"))
	s := newReader(t, db).snapshot()
	want := map[string]bool{"secrets_fts": false, "secrets_fts2": false, "pubc_fts": true, "own_fts": true, "pubc": true}
	for name, visible := range want {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		got, err := TablePublic(context.Background(), tx, name)
		_ = tx.Rollback()
		if err != nil || got != visible || s.Visible(name) != visible {
			t.Errorf("%s: TablePublic %t (%v), Visible %t; want %t", name, got, err, s.Visible(name), visible)
		}
	}
}

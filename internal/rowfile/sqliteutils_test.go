package rowfile

import (
	"database/sql"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// TestTracker_SameAsSqliteUtils compares the detected types with
// sqlite-utils' own (`sqlite-utils insert --csv --detect-types`, Debian's
// package) on random CSV files of integers, decimals, words and empty
// values, the cases both define alike (README: underscores, inf, nan and
// integers beyond 64 bits differ on purpose).
func TestTracker_SameAsSqliteUtils(t *testing.T) {
	bin, err := exec.LookPath("sqlite-utils")
	if err != nil {
		t.Skip("sqlite-utils is not installed (apt-get install sqlite-utils)")
	}
	rng := rand.New(rand.NewSource(1))
	values := []string{"", "0", "7", "-3", "+4", " 12 ", "1.5", "-0.25", "1e3", ".5", "2.", "abc", "1,2", "x y", "12a", "0x1F", "  "}
	dir := t.TempDir()
	for n := range 20 {
		var b strings.Builder
		cols := 1 + rng.Intn(4)
		for c := range cols {
			if c > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "c%d", c)
		}
		b.WriteByte('\n')
		for range 1 + rng.Intn(5) {
			for c := range cols {
				if c > 0 {
					b.WriteByte(',')
				}
				// Mostly numbers, so that numeric columns happen.
				v := values[rng.Intn(len(values))]
				if rng.Intn(3) > 0 {
					v = values[rng.Intn(11)]
				}
				if strings.ContainsAny(v, ", ") {
					v = `"` + v + `"`
				}
				b.WriteString(v)
			}
			b.WriteByte('\n')
		}
		data := b.String()
		path := filepath.Join(dir, fmt.Sprintf("f%d.csv", n))
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		dbPath := filepath.Join(dir, fmt.Sprintf("f%d.db", n))
		if out, err := exec.Command(bin, "insert", dbPath, "t", path, "--csv", "--detect-types").CombinedOutput(); err != nil {
			t.Fatalf("sqlite-utils: %v\n%s", err, out)
		}
		want := sqliteUtilsTypes(t, dbPath)
		var tr Tracker
		r := NewReader(strings.NewReader(data), "f", CSV)
		for {
			row, err := r.Next()
			if err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			tr.Observe(row)
		}
		var got []string
		for _, typ := range tr.Types() {
			got = append(got, map[Type]string{Integer: "INTEGER", Float: "FLOAT", TextType: "TEXT"}[typ])
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("file %q: got %v, sqlite-utils %v", data, got, want)
		}
	}
}

func sqliteUtilsTypes(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT type FROM pragma_table_info('t') ORDER BY cid")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ string
		if err := rows.Scan(&typ); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.ToUpper(typ))
	}
	return out
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// TestInsertFile_Cluster runs `tablecast insert` against a real cluster:
// CSV from a file and from stdin, JSON and newline-delimited JSON,
// -detect-types, a bad record that stops the insert with its place named
// and nothing of its batch written, then -pk -ignore resuming it.
func TestInsertFile_Cluster(t *testing.T) {
	c := devcluster.MustStart(t, binPath, nil)
	p := c.Nodes[0].APIURL
	dir := t.TempDir()
	insert := func(stdin string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(binPath, append([]string{"insert"}, args...)...)
		cmd.Env = append(os.Environ(), "TABLECAST_URL="+p, "TABLECAST_TOKEN="+c.Token)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	mustInsert := func(stdin string, args ...string) {
		t.Helper()
		if out, err := insert(stdin, args...); err != nil {
			t.Fatalf("insert %v: %v\n%s", args, err, out)
		}
	}
	count := func(table string) int {
		t.Helper()
		status, _, body := readAs(t, p+"/ins/"+table+".json?_extra=count&_size=0", c.Token)
		var out struct{ Count int }
		if status != 200 || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("count %s: %d %s", table, status, body)
		}
		return out.Count
	}
	row := func(table, pk string) string {
		t.Helper()
		status, _, body := readAs(t, p+"/ins/"+table+"/"+pk+".json?_shape=array", c.Token)
		if status != 200 {
			t.Fatalf("row %s/%s: %d %s", table, pk, status, body)
		}
		return strings.TrimSpace(body)
	}
	write := func(name, data string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	csvRows := func(from, to int, bad int) string {
		var b strings.Builder
		b.WriteString("id,name,score\n")
		for i := from; i <= to; i++ {
			if i == bad {
				fmt.Fprintf(&b, "%d,\"name %d\",%d.5,extra\n", i, i, i)
				continue
			}
			fmt.Fprintf(&b, "%d,\"name %d\",%d.5\n", i, i, i)
		}
		return b.String()
	}

	t.Run("CSVFile", func(t *testing.T) {
		mustInsert("", "ins", "plain", write("plain.csv", csvRows(1, 2500, 0)), "-pk", "id", "-batch-size", "1000")
		if got := count("plain"); got != 2500 {
			t.Fatalf("got %d rows, want 2500", got)
		}
		// Without -detect-types, CSV values are text, as in sqlite-utils.
		if got, want := row("plain", "7"), `[{"id":"7","name":"name 7","score":"7.5"}]`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		// Inserted tables are private: anonymous visitors get the
		// missing table's answer.
		s1, _, b1 := readAs(t, c.Nodes[0].APIURL+"/ins/plain.json", "")
		s2, _, b2 := readAs(t, c.Nodes[0].APIURL+"/ins/nosuch.json", "")
		if s1 != 404 || s1 != s2 || strings.ReplaceAll(b1, "plain", "X") != strings.ReplaceAll(b2, "nosuch", "X") {
			t.Fatalf("private table: %d %s; missing one: %d %s", s1, b1, s2, b2)
		}
	})
	t.Run("CSVStdinDetectTypes", func(t *testing.T) {
		mustInsert(csvRows(1, 30, 0)+"31,,\n", "ins", "typed", "-", "-csv", "-pk", "id", "-detect-types")
		if got := count("typed"); got != 31 {
			t.Fatalf("got %d rows, want 31", got)
		}
		if got, want := row("typed", "7"), `[{"id":7,"name":"name 7","score":7.5}]`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		if got, want := row("typed", "31"), `[{"id":31,"name":"","score":null}]`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	})
	t.Run("JSONAndNL", func(t *testing.T) {
		mustInsert("", "ins", "js", write("a.json", `[{"id": 1, "v": 1, "tags": ["x"]}, {"id": 2, "v": 2.5, "tags": null}]`), "-pk", "id")
		mustInsert("{\"id\": 3, \"v\": 3}\n{\"id\": 4, \"v\": null, \"tags\": {\"k\": 1}}\n", "ins", "js", "-", "-nl")
		if got := count("js"); got != 4 {
			t.Fatalf("got %d rows, want 4", got)
		}
		if got, want := row("js", "1"), `[{"id":1,"v":1.0,"tags":"[\"x\"]"}]`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	})
	t.Run("BadRecordThenResume", func(t *testing.T) {
		path := write("bad.csv", csvRows(1, 2000, 1502))
		out, err := insert("", "ins", "resume", path, "-pk", "id", "-batch-size", "500")
		if err == nil {
			t.Fatalf("a bad record was accepted:\n%s", out)
		}
		for _, want := range []string{path + ": line 1503, column ", "(record 1502): 4 values, but the header names 3 columns",
			"nothing of its batch (records 1501-1502) was written; 1500 rows were written before it"} {
			if !strings.Contains(out, want) {
				t.Fatalf("error %q does not say %q", out, want)
			}
		}
		if got := count("resume"); got != 1500 {
			t.Fatalf("got %d rows after the error, want 1500", got)
		}
		// Fixed, the same command with -ignore resumes: rows already
		// there are skipped, the others written.
		write("bad.csv", csvRows(1, 2000, 0))
		mustInsert("", "ins", "resume", path, "-pk", "id", "-batch-size", "500", "-ignore")
		if got := count("resume"); got != 2000 {
			t.Fatalf("got %d rows after resuming, want 2000", got)
		}
	})
	t.Run("RefusedRowNamesItsPlace", func(t *testing.T) {
		// typed.id is an integer column: text there is refused by the
		// primary, and the CLI names the line and column it came from.
		path := write("text.nl", "{\"id\": 100, \"score\": 1}\n{\"score\": 2, \"id\": \"x\"}\n")
		out, err := insert("", "ins", "typed", path)
		want := path + `: line 2, column 20 (record 2, column "id"): Row 1: column "id" expects integer, got string`
		if err == nil || !strings.Contains(out, want) || !strings.Contains(out, "nothing of its batch (records 1-2) was written; 0 rows were written before it") {
			t.Fatalf("got %v %q, want it to say %q", err, out, want)
		}
		// CSV values are text: into an integer column they need -detect-types.
		path = write("text.csv", "id,name\n100,a\n")
		out, err = insert("", "ins", "typed", path)
		want = path + `: line 2, column 1 (record 1, column "id"): Row 0: column "id" expects integer, got string (CSV values are text; -detect-types sends numbers)`
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("got %v %q, want it to say %q", err, out, want)
		}
		if got := count("typed"); got != 31 {
			t.Fatalf("got %d rows, want 31: part of a refused batch was written", got)
		}
		mustInsert("", "ins", "typed", path, "-detect-types")
		if got := count("typed"); got != 32 {
			t.Fatalf("got %d rows, want 32", got)
		}
	})
	t.Run("Alter", func(t *testing.T) {
		// A file with a column the table lacks: refused without -alter,
		// naming the place; added with it.
		path := write("more.csv", "id,name,score,colour\n40,x,1.5,red\n")
		out, err := insert("", "ins", "typed", path, "-detect-types")
		if err == nil || !strings.Contains(out, path+`: line 2, column 10 (record 1, column "colour"): Row 0 has invalid columns: colour`) {
			t.Fatalf("got %v %q", err, out)
		}
		mustInsert("", "ins", "typed", path, "-detect-types", "-alter")
		if got, want := row("typed", "40"), `[{"id":40,"name":"x","score":1.5,"colour":"red"}]`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	})
}

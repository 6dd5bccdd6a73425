package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/deploy/devcluster"
)

// mountNodeTmpfs mounts a tmpfs of size bytes as node's data.dir under a
// dev cluster's folder dir (devcluster.Cluster's layout), skipping the
// test without root, and unmounts it once the cluster has stopped
// (cleanups run last registered first). It returns the folder.
func mountNodeTmpfs(t *testing.T, dir, node string, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root to mount a tmpfs for %s's data folder", node)
	}
	data := filepath.Join(dir, node, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tablecast-"+node, data).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", data).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", data, err, out)
		}
	})
	return data
}

// TestCluster_DiskFull fills the primary's data folder, a small tmpfs,
// through the write API. The node must not exit (LiteFS exits 99 when it
// cannot write an LTX file): writes answer 507 with nothing written once
// free space falls under min-free-bytes, reads go on, a delete still goes
// through within the reserve, and writes resume by themselves once space
// is freed. Every acknowledged write is then on the primary and on the
// replica, and no refused one is anywhere.
func TestCluster_DiskFull(t *testing.T) {
	const (
		floor    = 16 << 20
		filler   = 16 << 20
		rowBytes = 200 << 10
	)
	dir := t.TempDir()
	data := mountNodeTmpfs(t, dir, "lhr-1", 128<<20) // the primary's data.dir
	fillerPath := filepath.Join(data, "filler")
	if err := os.WriteFile(fillerPath, bytes.Repeat([]byte{1}, filler), 0o644); err != nil {
		t.Fatal(err)
	}
	c := devcluster.MustStart(t, binPath, func(o *devcluster.Options) {
		o.Dir, o.Regions, o.MinFree = dir, []string{"lhr", "syd"}, floor
	})
	p, r := c.Nodes[0], c.Nodes[1]
	free := func() uint64 {
		n, err := tablecast.FreeBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Logf("free on the primary's data folder once started: %s", tablecast.FormatBytes(free()))

	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, p.APIURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("POST %s: %d, not JSON: %q", path, resp.StatusCode, raw)
		}
		return resp.StatusCode, out
	}
	if status, out := post("/fill/-/create", `{"table": "t", "columns": [{"name": "id", "type": "integer"}, {"name": "s"}], "pk": "id"}`); status != 201 {
		t.Fatalf("create: %d %v", status, out)
	}
	if status, out := post("/fill/t/-/publish", ``); status != 200 {
		t.Fatalf("publish: %d %v", status, out)
	}

	payload := strings.Repeat("x", rowBytes)
	insert := func(id int) (int, map[string]any) {
		return post("/fill/t/-/insert", fmt.Sprintf(`{"row": {"id": %d, "s": "%s"}}`, id, payload))
	}
	var acked, refused []int
	id, last, drop := 0, free(), uint64(0)
	for len(refused) < 3 {
		id++
		if id > 400 {
			t.Fatalf("no 507 after %d writes; %s free", id-1, tablecast.FormatBytes(free()))
		}
		switch status, out := insert(id); status {
		case http.StatusCreated:
			acked = append(acked, id)
			now := free()
			if last > now {
				drop = max(drop, last-now)
			}
			last = now
		case http.StatusInsufficientStorage:
			if out["ok"] != false || out["status"] != float64(507) || !strings.Contains(fmt.Sprint(out["error"]), "nothing was written") {
				t.Fatalf("507 body: %v", out)
			}
			refused = append(refused, id)
		default:
			t.Fatalf("write %d: %d %v (%s free)", id, status, out, tablecast.FormatBytes(free()))
		}
	}
	t.Logf("%d writes of %s acknowledged, then 507 with %s free (floor %s); the most one write took: %s",
		len(acked), tablecast.FormatBytes(rowBytes), tablecast.FormatBytes(free()), tablecast.FormatBytes(floor), tablecast.FormatBytes(drop))

	// Still serving: health, reads of rows written before.
	devcluster.WaitFor(t, p.APIURL+"/-/healthz", 200, time.Second)
	if status, _, body := get(t, p.APIURL+fmt.Sprintf("/fill/t/%d.json", acked[0])); status != 200 {
		t.Fatalf("read on the full primary: %d %v", status, body)
	}
	// Deletes go on within the reserve.
	if status, out := post(fmt.Sprintf("/fill/t/%d/-/delete", acked[0]), ``); status != 200 {
		t.Fatalf("delete below the floor: %d %v (%s free)", status, out, tablecast.FormatBytes(free()))
	}
	deleted := acked[0]
	acked = acked[1:]

	// Space comes back: writes resume by themselves.
	if err := os.Remove(fillerPath); err != nil {
		t.Fatal(err)
	}
	id++
	status, out := insert(id)
	if status != http.StatusCreated {
		t.Fatalf("write after space was freed: %d %v (%s free)", status, out, tablecast.FormatBytes(free()))
	}
	acked = append(acked, id)

	select {
	case err := <-c.Exited():
		t.Fatalf("a node exited: %v", err)
	default:
	}
	if b, _ := os.ReadFile(p.Log); bytes.Contains(b, []byte("fatal error occurred while committing WAL")) {
		t.Fatalf("LiteFS failed a commit:\n%s", b)
	}

	// Every acknowledged write is on both nodes; nothing refused or
	// deleted is anywhere.
	devcluster.WaitFor(t, r.APIURL+fmt.Sprintf("/fill/t/%d.json", id), 200, 10*time.Second)
	for _, node := range []devcluster.ClusterNode{p, r} {
		for _, a := range acked {
			if status, _, body := get(t, node.APIURL+fmt.Sprintf("/fill/t/%d.json", a)); status != 200 {
				t.Errorf("%s: acknowledged row %d: %d %v", node.Name, a, status, body)
			}
		}
		for _, a := range append(refused, deleted) {
			if status, _, _ := get(t, node.APIURL+fmt.Sprintf("/fill/t/%d.json", a)); status != 404 {
				t.Errorf("%s: refused or deleted row %d: %d", node.Name, a, status)
			}
		}
	}
}

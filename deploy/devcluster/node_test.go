package devcluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCluster_WriteConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lease string
		prim  AddrFile
		want  []string
		never []string
	}{
		{name: "RaftJoin", lease: "raft", prim: AddrFile{APIURL: "http://p", NodeURL: "https://p-node"},
			want:  []string{"type: raft", `raft-addr: "127.0.0.1:4000"`, `join: "https://p-node"`, "cluster-token: \"${TABLECAST_DEV_TOKEN}\""},
			never: []string{"primary-url", "hostname:"}},
		{name: "RaftFirst", lease: "raft", want: []string{"type: raft"}, never: []string{"join:"}},
		{name: "Static", lease: "static", prim: AddrFile{APIURL: "http://p", NodeURL: "https://p-node", LiteFSURL: "https://p-litefs"},
			want:  []string{"type: static", `hostname: "lhr-1"`, `advertise-url: "https://p-litefs"`, `primary-url: "http://p"`, `primary-node-url: "https://p-node"`},
			never: []string{"raft-addr", "join:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := New(Options{Dir: dir, Regions: []string{"lhr", "syd"}, Lease: tc.lease, StaleReads: "refuse"})
			if err := c.makeCA(); err != nil {
				t.Fatal(err)
			}
			n := &ClusterNode{Name: "syd-1", Region: "syd", RaftAddr: "127.0.0.1:4000"}
			path := filepath.Join(dir, n.Name, "litefs.yml")
			if err := c.writeConfig(n, tc.prim, path); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			if !strings.HasPrefix(got, configMark) {
				t.Errorf("config does not start with %q: clearEarlier would keep it", configMark)
			}
			for _, w := range append(tc.want, `name: "syd-1"`, `stale-reads: "refuse"`, "syd-1.crt") {
				if !strings.Contains(got, w) {
					t.Errorf("config lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.never {
				if strings.Contains(got, w) {
					t.Errorf("config has %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestWaitAddrFile(t *testing.T) {
	t.Run("Written", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "addr.json")
		go func() {
			tmp := path + ".tmp"
			_ = os.WriteFile(tmp, []byte(`{"api_url":"http://127.0.0.1:1","pid":7}`), 0o644)
			_ = os.Rename(tmp, path)
		}()
		a, err := WaitAddrFile(context.Background(), path, nil, 5*time.Second)
		if err != nil || a.APIURL != "http://127.0.0.1:1" || a.PID != 7 {
			t.Fatalf("got %+v, %v", a, err)
		}
	})
	t.Run("Exited", func(t *testing.T) {
		exited := make(chan struct{})
		close(exited)
		_, err := WaitAddrFile(context.Background(), filepath.Join(t.TempDir(), "addr.json"), exited, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "exited") {
			t.Fatalf("got %v, want an exit", err)
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		_, err := WaitAddrFile(context.Background(), filepath.Join(t.TempDir(), "addr.json"), nil, 50*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "not serving") {
			t.Fatalf("got %v, want a timeout", err)
		}
	})
}

func TestTail(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"", 3, ""},
	} {
		if got := Tail([]byte(tc.in), tc.n); got != tc.want {
			t.Errorf("Tail(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

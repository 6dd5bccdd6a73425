package main

import (
	"strings"
	"testing"

	"github.com/tablecast/tablecast/routing"
)

// The configs in deploy/ must stay valid, and say what deploy/README.md
// says they do.
func TestDeployConfigs(t *testing.T) {
	t.Run("Fly", func(t *testing.T) {
		t.Setenv("FLY_MACHINE_ID", "148e453c0e4d89")
		t.Setenv("FLY_REGION", "syd")
		t.Setenv("FLY_PRIVATE_IP", "fdaa:0:1a2b:a7b:1f5:8d0c:4b5e:2")
		t.Setenv("FLY_APP_NAME", "tablecast-example")
		t.Setenv("PRIMARY_REGION", "lhr")
		t.Setenv("TABLECAST_JOIN", "")
		t.Setenv("TABLECAST_CLUSTER_TOKEN", "s3cret")
		t.Setenv("TABLECAST_DEPLOY_TOKEN_SHA256", strings.Repeat("ab", 32))
		for file, candidate := range map[string]bool{"litefs.yml": true, "litefs-replica.yml": false} {
			c, err := LoadConfig("../../deploy/fly/" + file)
			if err != nil {
				t.Fatal(err)
			}
			tc := c.Tablecast
			switch {
			case c.Lease.IsCandidate() != candidate:
				t.Errorf("%s: candidate %v", file, c.Lease.IsCandidate())
			case c.HTTP.Addr != "[fdaa:0:1a2b:a7b:1f5:8d0c:4b5e:2]:20202" || tc.RaftAddr != "[fdaa:0:1a2b:a7b:1f5:8d0c:4b5e:2]:20203":
				t.Errorf("%s: LiteFS %s, raft %s: want both on 6PN", file, c.HTTP.Addr, tc.RaftAddr)
			case tc.AdvertiseURL != "http://[fdaa:0:1a2b:a7b:1f5:8d0c:4b5e:2]:8080":
				t.Errorf("%s: advertise-url %s", file, tc.AdvertiseURL)
			case tc.Name != "148e453c0e4d89" || tc.Region != "syd":
				t.Errorf("%s: name %q region %q", file, tc.Name, tc.Region)
			case tc.WriteMode != routing.WriteFlyReplay:
				t.Errorf("%s: write-mode %q, want fly-replay on Fly", file, tc.WriteMode)
			case tc.TLS.Cert != "/etc/tablecast/tls/any-node.crt" || tc.InsecurePlaintext:
				t.Errorf("%s: tls %+v: want the shared node certificate", file, tc.TLS)
			case tc.NodeAddr != "[fdaa:0:1a2b:a7b:1f5:8d0c:4b5e:2]:20204":
				t.Errorf("%s: node-addr %s: want 6PN", file, tc.NodeAddr)
			case !candidate && tc.Join != "https://candidate.process.tablecast-example.internal:20204":
				t.Errorf("%s: join %q", file, tc.Join)
			}
		}
	})
	t.Run("VM", func(t *testing.T) {
		t.Setenv("TABLECAST_NAME", "syd-1")
		t.Setenv("TABLECAST_REGION", "syd")
		t.Setenv("TABLECAST_PRIVATE_IP", "10.0.2.11")
		t.Setenv("TABLECAST_CANDIDATE", "false")
		t.Setenv("TABLECAST_JOIN", "https://10.0.1.11:20204")
		t.Setenv("TABLECAST_CLUSTER_TOKEN", "s3cret")
		t.Setenv("TABLECAST_DEPLOY_TOKEN_SHA256", strings.Repeat("ab", 32))
		c, err := LoadConfig("../../deploy/systemd/litefs.yml")
		if err != nil {
			t.Fatal(err)
		}
		if c.Lease.IsCandidate() || c.HTTP.Addr != "10.0.2.11:20202" || c.Tablecast.AdvertiseURL != "http://10.0.2.11:8080" ||
			c.FUSE.Dir != "/litefs" || c.Tablecast.WriteMode != routing.WriteProxy ||
			c.Tablecast.TLS.Cert != "/etc/tablecast/tls/syd-1.crt" || c.Tablecast.NodeAddr != "10.0.2.11:20204" {
			t.Errorf("parsed %+v", c)
		}
	})
}

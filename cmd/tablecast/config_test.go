package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	t.Setenv("TC_TOKEN", "s3cret")
	base := "fuse:\n  dir: /f\ndata:\n  dir: /d\n"
	t.Run("DefaultsAndEnv", func(t *testing.T) {
		c, err := ParseConfig([]byte(base + "tablecast:\n  insecure-plaintext: true\n  tokens:\n    - name: dev\n      token: ${TC_TOKEN}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if c.HTTP.Addr != DefaultLiteFSAddr || c.Tablecast.Addr != DefaultAPIAddr || c.Lease.ReconnectDelay != time.Second {
			t.Fatalf("defaults not set: %+v", c)
		}
		if tc := c.Tablecast; tc.RevocationBound != DefaultRevocationBound || tc.ReadHeaderTimeout != DefaultReadHeaderTimeout ||
			tc.ReadTimeout != DefaultReadTimeout || tc.IdleTimeout != DefaultIdleTimeout {
			t.Fatalf("bounds and timeouts not defaulted: %+v", tc)
		}
		if tc := c.Tablecast; tc.MaxImportBytes != 4<<30 || tc.ImportWait != 30*time.Second {
			t.Fatalf("import limits not defaulted: %d %s", tc.MaxImportBytes, tc.ImportWait)
		}
		toks, err := c.Tablecast.tokens()
		if err != nil || len(toks) != 1 || strings.Contains(toks[0].Hash, "s3cret") || len(toks[0].Hash) != 64 {
			t.Fatalf("tokens: %v %v", toks, err)
		}
	})
	for _, tc := range []struct{ name, text, want string }{
		{"UnknownTopKey", base + "fuze:\n  dir: x\n", `unknown key "fuze"`},
		{"UnknownNestedKey", base + "tablecast:\n  regoin: x\n", `unknown key "regoin"`},
		{"MissingFUSE", "data:\n  dir: /d\n", "fuse.dir"},
		{"BadLeaseType", base + "lease:\n  type: consul\n", "lease.type"},
		{"BadDuration", base + "lease:\n  reconnect-delay: soon\n", "reconnect-delay"},
		{"ReplicaWithoutPrimary", base + "lease:\n  type: static\n  candidate: false\n  advertise-url: http://p:20202\n", "tablecast.primary-url"},
		{"RaftReplicaWithoutJoin", base + "lease:\n  candidate: false\n", "tablecast.join"},
		{"JoinWithoutToken", base + "tablecast:\n  join: http://x:8080\n", "tablecast.cluster-token"},
		{"BadURL", base + "lease:\n  candidate: true\n  advertise-url: ftp://x\n", "lease.advertise-url"},
		{"TokenBoth", base + "tablecast:\n  tokens:\n    - name: a\n      token: x\n      sha256: y\n", "tablecast.tokens[0]"},
		{"TokenNoName", base + "tablecast:\n  tokens:\n    - token: x\n", "tablecast.tokens[0].name"},
		{"BadLevel", base + "tablecast:\n  log-level: loud\n", "tablecast.log-level"},
		{"BadPool", base + "tablecast:\n  read-pool: 1000\n", "tablecast.read-pool"},
		{"RevocationBoundAtHeartbeat", base + "tablecast:\n  revocation-bound: 1s\n", "tablecast.revocation-bound"},
		{"RevocationBoundNegative", base + "tablecast:\n  revocation-bound: -5s\n", "tablecast.revocation-bound"},
		{"MaxLagBelowFloor", base + "tablecast:\n  max-lag: 20ms\n", "tablecast.max-lag"},
		{"MaxImportNegative", base + "tablecast:\n  max-import-bytes: -1\n", "tablecast.max-import-bytes"},
		{"ImportWaitNegative", base + "tablecast:\n  import-wait: -1s\n", "tablecast.import-wait"},
		{"NegativeTimeout", base + "tablecast:\n  idle-timeout: -1s\n", "idle-timeout"},
		{"NegativeFacetTimeLimit", base + "tablecast:\n  facet-time-limit: -1s\n", "tablecast.facet-time-limit"},
		{"ReadTimeoutBelowHeader", base + "tablecast:\n  read-timeout: 1s\n  read-header-timeout: 2s\n", "tablecast.read-timeout"},
		{"NoTLS", base, "tablecast cert ca"},
		{"NoTLSNamesFlag", base, "tablecast.insecure-plaintext: true"},
		{"TLSWithoutKey", base + "tablecast:\n  tls:\n    ca: ca.crt\n    cert: n.crt\n", "tablecast.tls.key"},
		{"TLSAndPlaintext", base + "tablecast:\n  insecure-plaintext: true\n  tls:\n    ca: ca.crt\n    cert: n.crt\n    key: n.key\n", "tablecast.insecure-plaintext"},
		{"TLSJoinOverHTTP", base + "tablecast:\n  cluster-token: x\n  join: http://x:8080\n  tls:\n    ca: ca.crt\n    cert: n.crt\n    key: n.key\n", "tablecast.join"},
		{"BaseURLRelative", base + "tablecast:\n  insecure-plaintext: true\n  base-url: data.example\n", "tablecast.base-url: base URL \"data.example\": must start with http:// or https://"},
		{"BaseURLQuery", base + "tablecast:\n  insecure-plaintext: true\n  base-url: https://data.example/?x=1\n", "tablecast.base-url: base URL \"https://data.example/?x=1\": must have no query"},
		{"BaseURLPath", base + "tablecast:\n  insecure-plaintext: true\n  base-url: https://data.example/db\n", "tablecast.base-url: base URL \"https://data.example/db\": must have no path"},
		{"TrustedProxyBad", base + "tablecast:\n  insecure-plaintext: true\n  trusted-proxies: [10.0.0.0/8, proxy.local]\n", `tablecast.trusted-proxies: trusted proxy "proxy.local"`},
		{"TrustedProxyNotList", base + "tablecast:\n  insecure-plaintext: true\n  trusted-proxies: 10.0.0.0/8\n", "trusted-proxies"},
		{"StaticReplicaWithoutNodeURL", base + "lease:\n  type: static\n  candidate: false\n  advertise-url: https://p:20202\ntablecast:\n  primary-url: http://p:8080\n", "tablecast.primary-node-url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// base-url and trusted-proxies reach the node's options, checked.
func TestParseConfig_BaseURL(t *testing.T) {
	c, err := ParseConfig([]byte("fuse:\n  dir: /f\ndata:\n  dir: /d\ntablecast:\n  insecure-plaintext: true\n" +
		"  base-url: https://data.example/\n  trusted-proxies: [10.0.0.0/8, \"fd00::1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.nodeOptions()
	if err != nil {
		t.Fatal(err)
	}
	if o.BaseURL != "https://data.example" || len(o.TrustedProxies) != 2 || o.TrustedProxies[1].String() != "fd00::1/128" {
		t.Fatalf("options: %q %v", o.BaseURL, o.TrustedProxies)
	}
}

// The example config in the repository must stay valid.
func TestParseConfig_Example(t *testing.T) {
	t.Setenv("TABLECAST_CANDIDATE", "false")
	t.Setenv("TABLECAST_JOIN", "https://primary:20204")
	t.Setenv("TABLECAST_CLUSTER_TOKEN", "s3cret")
	t.Setenv("TABLECAST_CLUSTER_TOKEN_SHA256", strings.Repeat("ab", 32))
	t.Setenv("TABLECAST_REGION", "syd")
	if _, err := LoadConfig("../../litefs.yml"); err != nil {
		t.Fatal(err)
	}
}

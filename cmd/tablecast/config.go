package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/primary"
	"github.com/tablecast/tablecast/replica"
	"github.com/tablecast/tablecast/routing"
	"gopkg.in/yaml.v3"
)

// Config is a node's configuration file: LiteFS's own keys (fuse, data,
// http, lease) and tablecast's section. Keys are kebab-case, as LiteFS's.
type Config struct {
	FUSE struct {
		Dir string `yaml:"dir"`
	} `yaml:"fuse"`
	Data struct {
		Dir string `yaml:"dir"`
	} `yaml:"data"`
	HTTP struct {
		Addr string `yaml:"addr"`
	} `yaml:"http"`
	Lease     LeaseConfig     `yaml:"lease"`
	Tablecast TablecastConfig `yaml:"tablecast"`
}

// LeaseConfig is LiteFS's lease section. Type "raft" (the default) elects
// the primary among candidates with hashicorp/raft; "static" makes the one
// node with candidate: true the primary for good.
type LeaseConfig struct {
	Type           string        `yaml:"type"`
	Candidate      *bool         `yaml:"candidate"` // default true: a lone node is its own primary
	Hostname       string        `yaml:"hostname"`
	AdvertiseURL   string        `yaml:"advertise-url"`
	ReconnectDelay time.Duration `yaml:"reconnect-delay"`
	DemoteDelay    time.Duration `yaml:"demote-delay"`
}

// IsCandidate reports whether this node may be primary.
func (l *LeaseConfig) IsCandidate() bool { return l.Candidate == nil || *l.Candidate }

// TablecastConfig is tablecast's own section.
type TablecastConfig struct {
	Name         string        `yaml:"name"`
	Region       string        `yaml:"region"`
	Addr         string        `yaml:"addr"`
	AdvertiseURL string        `yaml:"advertise-url"`
	PrimaryURL   string        `yaml:"primary-url"`
	Tokens       []TokenConfig `yaml:"tokens"`
	MaxBody      int64         `yaml:"max-body"`
	// Imports (POST /{db}/-/import, tablecast import): the largest file,
	// and how long the answer waits for every node to apply it.
	MaxImportBytes int64         `yaml:"max-import-bytes"` // default 4 GiB
	ImportWait     time.Duration `yaml:"import-wait"`      // default 30s
	MinFreeBytes   int64         `yaml:"min-free-bytes"`   // free-space floor under data.dir: writes on the primary, the stream on a replica (-1: none)
	ReadPool       int           `yaml:"read-pool"`
	CacheBytes     int64         `yaml:"cache-bytes"`    // response cache budget; -1 turns the cache off
	MemoryLimit    int64         `yaml:"memory-limit"`   // Go memory limit, bytes; 0: from cache-bytes (tablecast.PlannedMemory); -1: 3/4 of the machine
	MaxAge         time.Duration `yaml:"max-age"`        // Cache-Control max-age of public answers (0: none)
	SQLTimeLimit   time.Duration `yaml:"sql-time-limit"` // public SQL: longest query (default 1s)
	SQLMaxRows     int           `yaml:"sql-max-rows"`   // public SQL: most rows (default 1000)
	// FacetTimeLimit: the longest one facet of a table page may count
	// (default 200ms, Datasette's facet_time_limit_ms); then "timed_out".
	FacetTimeLimit time.Duration `yaml:"facet-time-limit"`
	LogLevel       string        `yaml:"log-level"`
	MetricsAddr    string        `yaml:"metrics-addr"` // also serve /metrics here, without a token (private network only)

	// Absolute URLs in answers (next_url, Link, blob URLs in CSV): from
	// base-url when set (a CDN or load balancer's public URL), else the
	// request's Host and scheme, or X-Forwarded-Host and -Proto from the
	// trusted-proxies (CIDRs or addresses).
	BaseURL        string   `yaml:"base-url"`
	TrustedProxies []string `yaml:"trusted-proxies"`

	// Routing (see routing.Config).
	WriteMode    string        `yaml:"write-mode"`    // proxy | redirect | fly-replay
	StaleReads   string        `yaml:"stale-reads"`   // primary | refuse
	BookmarkWait time.Duration `yaml:"bookmark-wait"` // default 2s
	MaxLag       time.Duration `yaml:"max-lag"`       // default staleness bound; 0: none
	PrimaryWait  time.Duration `yaml:"primary-wait"`  // default 5s
	// RevocationBound: a replica that has not heard from the primary (no
	// transaction, no heartbeat) for longer stops serving public reads.
	RevocationBound time.Duration `yaml:"revocation-bound"` // default 3s, more than LiteFS's 1s heartbeat

	// API listener (net/http.Server timeouts; see DefaultReadHeaderTimeout).
	ReadHeaderTimeout time.Duration `yaml:"read-header-timeout"` // default 5s
	ReadTimeout       time.Duration `yaml:"read-timeout"`        // default 30s: whole request, body included
	IdleTimeout       time.Duration `yaml:"idle-timeout"`        // default 60s: keep-alive between requests

	// Raft (lease.type raft).
	RaftAddr      string `yaml:"raft-addr"`      // raft listen address, default :20203
	RaftAdvertise string `yaml:"raft-advertise"` // host:port others reach it at
	Join          string `yaml:"join"`           // node URL (node-addr) of any node of the cluster to join
	ClusterToken  string `yaml:"cluster-token"`  // a token's secret nodes send each other (join, sync writes)

	// Trust between nodes: LiteFS replication, raft and the node API run
	// over mutual TLS with certificates of the cluster CA (tablecast cert).
	TLS               TLSConfig `yaml:"tls"`
	InsecurePlaintext bool      `yaml:"insecure-plaintext"` // the only way to run without tls: private networks only
	NodeAddr          string    `yaml:"node-addr"`          // the node API's listen address (mutual TLS), default :20204
	NodeAdvertiseURL  string    `yaml:"node-advertise-url"` // the node API URL peers reach this node at
	PrimaryNodeURL    string    `yaml:"primary-node-url"`   // static replica: the primary's node API URL
}

// TLSConfig names the PEM files of a node's TLS identity.
type TLSConfig struct {
	CA   string `yaml:"ca"`   // the cluster CA certificate (ca.crt)
	Cert string `yaml:"cert"` // this node's certificate (NAME.crt)
	Key  string `yaml:"key"`  // this node's key (NAME.key)
}

// enabled reports whether any TLS key is set.
func (t TLSConfig) enabled() bool { return t.CA != "" || t.Cert != "" || t.Key != "" }

// TokenConfig is one token: its secret (hashed at load, for dev
// clusters) or only its SHA-256 (from `tablecast token create`), and its
// scopes (read, write, publish, schema, admin); without a scopes list it has them all.
type TokenConfig struct {
	Name   string   `yaml:"name"`
	Token  string   `yaml:"token"`
	SHA256 string   `yaml:"sha256"`
	Scopes []string `yaml:"scopes"`
}

// Defaults.
const (
	DefaultLiteFSAddr = ":20202"
	DefaultAPIAddr    = ":8080"
	DefaultRegion     = "local"
	DefaultRaftAddr   = ":20203"
	DefaultNodeAddr   = ":20204"

	// DefaultRevocationBound: three LiteFS heartbeats (one a second).
	DefaultRevocationBound = 3 * time.Second
	// MinRevocationBound: the bound must leave room for a heartbeat.
	MinRevocationBound = time.Second

	// The API listener's timeouts: a client gets 5 s to send its headers,
	// 30 s for its whole request (a write body of max-body, 1 MiB, at
	// 35 KB/s), and an idle keep-alive connection is closed after 60 s.
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
)

// LoadConfig reads a YAML file, expands ${ENV} references, refuses
// unknown keys, fills defaults and validates.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

var (
	unknownField = regexp.MustCompile(`field (\S+) not found in type \S+`)
	errLine      = regexp.MustCompile(`line (\d+): `)
)

// ParseConfig parses and validates configuration text.
func ParseConfig(b []byte) (*Config, error) {
	expanded := []byte(os.Expand(string(b), os.Getenv))
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, namedYAMLError(expanded, err)
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// namedYAMLError rewrites yaml's "line N: …" errors to name the key at that
// line ("lease.reconnect-delay (line 6): …").
func namedYAMLError(text []byte, err error) error {
	var root yaml.Node
	paths := map[string]string{}
	if yaml.Unmarshal(text, &root) == nil {
		keyPaths(&root, "", paths)
	}
	msg := strings.ReplaceAll(err.Error(), "yaml: unmarshal errors:\n  ", "")
	msg = unknownField.ReplaceAllString(msg, `unknown key "$1"`)
	msg = errLine.ReplaceAllStringFunc(msg, func(m string) string {
		line := errLine.FindStringSubmatch(m)[1]
		if p, ok := paths[line]; ok {
			return p + " (line " + line + "): "
		}
		return m
	})
	return errors.New(msg)
}

// keyPaths maps each mapping key's line to its dotted path.
func keyPaths(n *yaml.Node, prefix string, out map[string]string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := prefix
			if n.Kind == yaml.SequenceNode {
				p = fmt.Sprintf("%s[%d]", prefix, i)
			}
			keyPaths(c, p, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if prefix != "" {
				p = prefix + "." + p
			}
			out[fmt.Sprint(n.Content[i].Line)] = p
			keyPaths(n.Content[i+1], p, out)
		}
	}
}

func (c *Config) setDefaults() {
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = DefaultLiteFSAddr
	}
	if c.Lease.Candidate == nil {
		yes := true
		c.Lease.Candidate = &yes
	}
	if c.Lease.Type == "" {
		c.Lease.Type = "raft"
	}
	if c.Tablecast.RaftAddr == "" {
		c.Tablecast.RaftAddr = DefaultRaftAddr
	}
	if c.Tablecast.NodeAddr == "" {
		c.Tablecast.NodeAddr = DefaultNodeAddr
	}
	if c.Lease.ReconnectDelay == 0 {
		c.Lease.ReconnectDelay = time.Second
	}
	if c.Lease.DemoteDelay == 0 {
		c.Lease.DemoteDelay = 10 * time.Second
	}
	t := &c.Tablecast
	if t.Addr == "" {
		t.Addr = DefaultAPIAddr
	}
	if t.Region == "" {
		t.Region = DefaultRegion
	}
	if t.Name == "" {
		t.Name, _ = os.Hostname()
	}
	if t.MaxBody == 0 {
		t.MaxBody = primary.DefaultMaxBody
	}
	if t.MaxImportBytes == 0 {
		t.MaxImportBytes = primary.DefaultMaxImport
	}
	if t.ImportWait == 0 {
		t.ImportWait = primary.DefaultImportWait
	}
	if t.MinFreeBytes == 0 {
		t.MinFreeBytes = primary.DefaultMinFree
	}
	if t.CacheBytes == 0 {
		t.CacheBytes = replica.DefaultCacheBytes
	}
	if t.ReadPool == 0 {
		t.ReadPool = 4
	}
	if t.WriteMode == "" {
		t.WriteMode = routing.WriteProxy
		if os.Getenv("FLY_REGION") != "" {
			t.WriteMode = routing.WriteFlyReplay
		}
	}
	if t.StaleReads == "" {
		t.StaleReads = routing.StalePrimary
	}
	if t.BookmarkWait == 0 {
		t.BookmarkWait = routing.DefaultBookmarkWait
	}
	if t.PrimaryWait == 0 {
		t.PrimaryWait = routing.DefaultPrimaryWait
	}
	if t.RevocationBound == 0 {
		t.RevocationBound = DefaultRevocationBound
	}
	if t.ReadHeaderTimeout == 0 {
		t.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if t.ReadTimeout == 0 {
		t.ReadTimeout = DefaultReadTimeout
	}
	if t.IdleTimeout == 0 {
		t.IdleTimeout = DefaultIdleTimeout
	}
	if t.LogLevel == "" {
		t.LogLevel = "info"
	}
}

// Validate checks every key and names the one at fault.
func (c *Config) Validate() error {
	switch {
	case c.FUSE.Dir == "":
		return errors.New("fuse.dir: required")
	case c.Data.Dir == "":
		return errors.New("data.dir: required")
	case c.Lease.Type != "static" && c.Lease.Type != "raft":
		return fmt.Errorf("lease.type: %q is not supported (raft or static)", c.Lease.Type)
	case c.Lease.ReconnectDelay < 0:
		return errors.New("lease.reconnect-delay: must not be negative")
	case c.Lease.DemoteDelay < 0:
		return errors.New("lease.demote-delay: must not be negative")
	case c.Lease.Type == "static" && !c.Lease.IsCandidate() && c.Lease.AdvertiseURL == "":
		return errors.New("lease.advertise-url: required on a static replica (the primary's LiteFS URL)")
	case c.Lease.Type == "static" && !c.Lease.IsCandidate() && c.Tablecast.PrimaryURL == "":
		return errors.New("tablecast.primary-url: required on a static replica (the primary's API URL)")
	case c.Lease.Type == "raft" && !c.Lease.IsCandidate() && c.Tablecast.Join == "":
		return errors.New("tablecast.join: required on a replica (the node URL of any node of the cluster, https://HOST:20204)")
	case c.Lease.Type == "raft" && c.Tablecast.Join != "" && c.Tablecast.ClusterToken == "":
		return errors.New("tablecast.cluster-token: required with join (the secret of a token every node accepts)")
	case c.Lease.Type == "static" && !c.Lease.IsCandidate() && c.Tablecast.PrimaryNodeURL == "":
		return errors.New("tablecast.primary-node-url: required on a static replica (the primary's node API URL)")
	case c.Tablecast.MaxBody < 0:
		return errors.New("tablecast.max-body: must be positive")
	case c.Tablecast.MaxImportBytes < 0:
		return errors.New("tablecast.max-import-bytes: must be positive")
	case c.Tablecast.ImportWait < 0:
		return errors.New("tablecast.import-wait: must not be negative")
	case !slices.Contains([]string{routing.WriteProxy, routing.WriteRedirect, routing.WriteFlyReplay}, c.Tablecast.WriteMode):
		return fmt.Errorf("tablecast.write-mode: %q is not one of proxy, redirect, fly-replay", c.Tablecast.WriteMode)
	case c.Tablecast.StaleReads != routing.StalePrimary && c.Tablecast.StaleReads != routing.StaleRefuse:
		return fmt.Errorf("tablecast.stale-reads: %q is not one of primary, refuse", c.Tablecast.StaleReads)
	case c.Tablecast.BookmarkWait < 0 || c.Tablecast.MaxLag < 0 || c.Tablecast.PrimaryWait < 0:
		return errors.New("tablecast.bookmark-wait, max-lag, primary-wait: must not be negative")
	case c.Tablecast.MaxLag > 0 && c.Tablecast.MaxLag < routing.MinMaxLag:
		return fmt.Errorf("tablecast.max-lag: must be 0 (none) or at least %s", routing.MinMaxLag)
	case c.Tablecast.RevocationBound <= MinRevocationBound:
		return fmt.Errorf("tablecast.revocation-bound: must be more than %s (LiteFS heartbeats replicas every second), got %s", MinRevocationBound, c.Tablecast.RevocationBound)
	case c.Tablecast.ReadHeaderTimeout < 0 || c.Tablecast.ReadTimeout < 0 || c.Tablecast.IdleTimeout < 0:
		return errors.New("tablecast.read-header-timeout, read-timeout, idle-timeout: must not be negative")
	case c.Tablecast.ReadTimeout > 0 && c.Tablecast.ReadTimeout < c.Tablecast.ReadHeaderTimeout:
		return errors.New("tablecast.read-timeout: must not be shorter than read-header-timeout (it covers the headers too)")
	case c.Tablecast.MaxAge < 0 || c.Tablecast.SQLTimeLimit < 0 || c.Tablecast.SQLMaxRows < 0:
		return errors.New("tablecast.max-age, sql-time-limit, sql-max-rows: must not be negative")
	case c.Tablecast.FacetTimeLimit < 0:
		return errors.New("tablecast.facet-time-limit: must not be negative")
	case c.Tablecast.MinFreeBytes < -1:
		return errors.New("tablecast.min-free-bytes: must be a byte count, or -1 for no floor")
	case c.Tablecast.CacheBytes < -1:
		return errors.New("tablecast.cache-bytes: must be a byte count, or -1 for no cache")
	case c.Tablecast.MemoryLimit < -1 || (c.Tablecast.MemoryLimit > 0 && c.Tablecast.MemoryLimit < 64<<20):
		return errors.New("tablecast.memory-limit: must be a byte count of at least 67108864 (64 MiB), 0 for the default, or -1 for 3/4 of the machine")
	case c.Tablecast.MemoryLimit > 0 && c.Tablecast.CacheBytes > 0 && c.Tablecast.MemoryLimit < c.Tablecast.CacheBytes+32<<20:
		return errors.New("tablecast.memory-limit: must leave at least 32 MiB above cache-bytes")
	case c.Tablecast.ReadPool < 0 || c.Tablecast.ReadPool > 64:
		return errors.New("tablecast.read-pool: must be from 1 to 64")
	}
	for key, u := range map[string]string{
		"lease.advertise-url": c.Lease.AdvertiseURL, "tablecast.advertise-url": c.Tablecast.AdvertiseURL,
		"tablecast.primary-url": c.Tablecast.PrimaryURL, "tablecast.join": c.Tablecast.Join,
		"tablecast.node-advertise-url": c.Tablecast.NodeAdvertiseURL, "tablecast.primary-node-url": c.Tablecast.PrimaryNodeURL,
	} {
		if err := validateURL(u); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	if c.Tablecast.BaseURL != "" {
		if _, err := replica.CheckBaseURL(c.Tablecast.BaseURL); err != nil {
			return fmt.Errorf("tablecast.base-url: %w", err)
		}
	}
	if _, err := replica.ParseTrustedProxies(c.Tablecast.TrustedProxies); err != nil {
		return fmt.Errorf("tablecast.trusted-proxies: %w", err)
	}
	if _, err := parseLevel(c.Tablecast.LogLevel); err != nil {
		return fmt.Errorf("tablecast.log-level: %w", err)
	}
	if _, err := c.Tablecast.tokens(); err != nil {
		return err
	}
	return c.validateTLS()
}

// errNoTLS is the refusal to start without node TLS and without the flag.
var errNoTLS = errors.New(`tablecast.tls: required: set tablecast.tls.ca, tablecast.tls.cert and tablecast.tls.key ` +
	`(make them with "tablecast cert ca -dir DIR" then "tablecast cert node -ca-dir DIR -name NODE -host IP,HOST -out DIR2"), ` +
	`or set tablecast.insecure-plaintext: true to leave the LiteFS, raft and node ports unauthenticated (private networks only)`)

// validateTLS checks the trust keys: TLS, or plaintext said out loud.
func (c *Config) validateTLS() error {
	t := &c.Tablecast
	switch {
	case !t.TLS.enabled() && !t.InsecurePlaintext:
		return errNoTLS
	case t.TLS.enabled() && t.InsecurePlaintext:
		return errors.New("tablecast.insecure-plaintext: remove it, or remove tablecast.tls: not both")
	case t.InsecurePlaintext:
		return nil
	case t.TLS.CA == "":
		return errors.New("tablecast.tls.ca: required (the cluster CA certificate, ca.crt)")
	case t.TLS.Cert == "":
		return errors.New("tablecast.tls.cert: required (this node's certificate, from tablecast cert node)")
	case t.TLS.Key == "":
		return errors.New("tablecast.tls.key: required (this node's key, from tablecast cert node)")
	}
	// Peers are reached over TLS: a plain http:// URL for one would not work.
	for key, u := range map[string]string{
		"lease.advertise-url": c.Lease.AdvertiseURL, "tablecast.join": t.Join,
		"tablecast.node-advertise-url": t.NodeAdvertiseURL, "tablecast.primary-node-url": t.PrimaryNodeURL,
	} {
		if u != "" && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("%s: %q must be an https:// URL with tablecast.tls (a node URL)", key, u)
		}
	}
	return nil
}

func validateURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

// isClusterToken reports whether a token entry is the cluster-token's.
func (t *TablecastConfig) isClusterToken(tc TokenConfig) bool {
	h := primary.HashToken(t.ClusterToken)
	return t.ClusterToken != "" && (tc.Token == t.ClusterToken || strings.EqualFold(tc.SHA256, h))
}

// tokens turns the configured tokens into hashes; secrets are not kept.
func (t *TablecastConfig) tokens() ([]primary.Token, error) {
	var out []primary.Token
	for i, tc := range t.Tokens {
		key := fmt.Sprintf("tablecast.tokens[%d]", i)
		switch {
		case tc.Name == "":
			return nil, fmt.Errorf("%s.name: required", key)
		case (tc.Token == "") == (tc.SHA256 == ""):
			return nil, fmt.Errorf("%s: set exactly one of token or sha256", key)
		case tc.Scopes != nil && t.isClusterToken(tc):
			// Nodes join, sync and read each other's status with it.
			return nil, fmt.Errorf("%s.scopes: the cluster-token's entry always has every scope; remove the list", key)
		}
		if tc.Scopes != nil {
			if _, err := primary.ParseScopes(tc.Scopes); err != nil {
				return nil, fmt.Errorf("%s.scopes: %s", key, tablecast.ErrorMessage(err))
			}
		}
		hash := strings.ToLower(tc.SHA256)
		if tc.Token != "" {
			hash = primary.HashToken(tc.Token)
		}
		out = append(out, primary.Token{Name: tc.Name, Hash: hash, Scopes: tc.Scopes})
	}
	if _, err := primary.NewTokens(out); err != nil {
		return nil, fmt.Errorf("tablecast.tokens: %w", err)
	}
	return out, nil
}

// plannedMemory is the Go memory limit the settings call for (0: none).
func (t *TablecastConfig) plannedMemory() int64 {
	switch {
	case t.MemoryLimit > 0:
		return t.MemoryLimit
	case t.MemoryLimit < 0:
		return 0
	}
	return tablecast.PlannedMemory(t.CacheBytes)
}

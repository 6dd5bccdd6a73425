package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/cmd/tablecast/internal/node"
	"github.com/tablecast/tablecast/replica"
	"github.com/tablecast/tablecast/routing"
)

// AddrFile is what `serve -addr-file` writes once the node serves: how
// scripts (and `tablecast dev`) find a node started on ":0" ports.
type AddrFile struct {
	APIURL    string `json:"api_url"`
	NodeURL   string `json:"node_url"` // the node API (mutual TLS unless insecure-plaintext)
	LiteFSURL string `json:"litefs_url"`
	PID       int    `json:"pid"`
	// BenchURL is set with -bench-addr.
	BenchURL string `json:"bench_url,omitempty"`
}

func runServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configPath := fs.String("config", "litefs.yml", "config file")
	join := fs.String("join", "", "node URL (tablecast.node-addr, https with TLS) of any node of a raft cluster to join (overrides tablecast.join)")
	region := fs.String("region", "", "this node's region (overrides tablecast.region)")
	addrFile := fs.String("addr-file", "", "write the node's URLs here as JSON once it serves")
	benchAddr := fs.String("bench-addr", "", "benchmarks only: also serve reads on this loopback address under /ungated/ (gate and cache off) and /nocache/ (gate on, cache off), bare handlers under /bare/ and /bare-headers/, and Go profiles under /debug/pprof/")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := LoadConfig(*configPath)
	if err != nil {
		return err
	}
	if *join != "" {
		cfg.Tablecast.Join = *join
	}
	if *region != "" {
		cfg.Tablecast.Region = *region
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config %s: %w", *configPath, err)
	}
	level, _ := parseLevel(cfg.Tablecast.LogLevel)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).
		With("node", cfg.Tablecast.Name, "region", cfg.Tablecast.Region)
	slog.SetDefault(logger)

	if procs, set := tablecast.TuneProcs(); set {
		logger.Info("GOMAXPROCS raised so SQLite calls waiting on the FUSE mount leave LiteFS room to answer them", "gomaxprocs", procs)
	}
	if gc := tablecast.TuneGC(cfg.Tablecast.plannedMemory()); gc != "" {
		logger.Info("garbage collector tuned for serving from memory (GOGC, GOMEMLIMIT override)", "settings", gc)
	}
	opts, err := cfg.nodeOptions()
	if err != nil {
		return err
	}
	opts.BenchAddr, opts.Logger = *benchAddr, logger
	n := node.New(opts)
	if *addrFile != "" {
		n.OnServe = func(u node.URLs) error {
			return writeAddrFile(*addrFile, AddrFile{APIURL: u.API, NodeURL: u.Node, LiteFSURL: u.LiteFS, PID: os.Getpid(), BenchURL: u.Bench})
		}
	}
	return n.Run(ctx)
}

// nodeOptions are the node's options of a validated config.
func (c *Config) nodeOptions() (node.Options, error) {
	t := &c.Tablecast
	tokens, err := t.tokens()
	if err != nil {
		return node.Options{}, err
	}
	base := ""
	if t.BaseURL != "" {
		if base, err = replica.CheckBaseURL(t.BaseURL); err != nil {
			return node.Options{}, fmt.Errorf("tablecast.base-url: %w", err)
		}
	}
	proxies, err := replica.ParseTrustedProxies(t.TrustedProxies)
	if err != nil {
		return node.Options{}, fmt.Errorf("tablecast.trusted-proxies: %w", err)
	}
	return node.Options{
		Name: t.Name, Region: t.Region,
		FUSEDir: c.FUSE.Dir, DataDir: c.Data.Dir, LiteFSAddr: c.HTTP.Addr,

		StaticLease: c.Lease.Type == "static", Candidate: c.Lease.IsCandidate(),
		LeaseHostname: c.Lease.Hostname, LeaseAdvertiseURL: c.Lease.AdvertiseURL,
		ReconnectDelay: c.Lease.ReconnectDelay, DemoteDelay: c.Lease.DemoteDelay,

		Addr: t.Addr, AdvertiseURL: t.AdvertiseURL, PrimaryURL: t.PrimaryURL,
		Tokens: tokens, MaxBody: t.MaxBody, MinFree: t.minFree(),
		MaxImport: t.MaxImportBytes, ImportWait: t.ImportWait,
		ReadPool: t.ReadPool, CacheBytes: t.CacheBytes, MaxAge: t.MaxAge,
		SQLTimeLimit: t.SQLTimeLimit, SQLMaxRows: t.SQLMaxRows, FacetTimeLimit: t.FacetTimeLimit,
		BaseURL: base, TrustedProxies: proxies,
		Routing: routing.Config{
			WriteMode: t.WriteMode, StaleMode: t.StaleReads,
			BookmarkWait: t.BookmarkWait, MaxLag: t.MaxLag,
			PrimaryWait: t.PrimaryWait, MaxBody: t.MaxBody, MaxImport: t.MaxImportBytes,
			RevocationBound: t.RevocationBound,
		},
		ReadHeaderTimeout: t.ReadHeaderTimeout, ReadTimeout: t.ReadTimeout, IdleTimeout: t.IdleTimeout,
		MetricsAddr: t.MetricsAddr,

		RaftAddr: t.RaftAddr, RaftAdvertise: t.RaftAdvertise, Join: t.Join, ClusterToken: t.ClusterToken,

		TLS:               node.TLSFiles{CA: t.TLS.CA, Cert: t.TLS.Cert, Key: t.TLS.Key},
		InsecurePlaintext: t.InsecurePlaintext,
		NodeAddr:          t.NodeAddr, NodeAdvertiseURL: t.NodeAdvertiseURL, PrimaryNodeURL: t.PrimaryNodeURL,
	}, nil
}

// minFree is the free-space floor in bytes, 0 for none.
func (t *TablecastConfig) minFree() uint64 {
	if t.MinFreeBytes <= 0 {
		return 0
	}
	return uint64(t.MinFreeBytes)
}

func writeAddrFile(path string, a AddrFile) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write addr file: %w", err)
	}
	if err := os.Rename(tmp, filepath.Clean(path)); err != nil {
		return fmt.Errorf("write addr file: %w", err)
	}
	return nil
}

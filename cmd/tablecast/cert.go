package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/tablecast/tablecast/nodetls"
)

// runCert: `tablecast cert ca|node`, the cluster's CA and its nodes'
// certificates (mutual TLS between nodes, see nodetls).
func runCert(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: tablecast cert ca -dir DIR | cert node -ca-dir DIR -name NODE -host IP,HOST -out DIR")
	}
	switch args[0] {
	case "ca":
		return runCertCA(args[1:])
	case "node":
		return runCertNode(args[1:])
	}
	return fmt.Errorf("unknown cert command %q: want ca or node", args[0])
}

func runCertCA(args []string) error {
	fs := flag.NewFlagSet("cert ca", flag.ContinueOnError)
	dir := fs.String("dir", "", "folder to write ca.crt and ca.key to (keep ca.key off the nodes)")
	days := fs.Int("days", int(nodetls.DefaultCAValidity/(24*time.Hour)), "validity in days")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *days <= 0 {
		return fmt.Errorf("cert ca: -dir is required, -days must be positive")
	}
	if err := nodetls.NewCA(*dir, time.Duration(*days)*24*time.Hour); err != nil {
		return fmt.Errorf("cert ca: %w", err)
	}
	fmt.Printf("cluster CA written: %s, %s\nnext: tablecast cert node -ca-dir %s -name NODE -host IP,HOST -out DIR\n",
		filepath.Join(*dir, nodetls.CACertFile), filepath.Join(*dir, nodetls.CAKeyFile), *dir)
	return nil
}

func runCertNode(args []string) error {
	fs := flag.NewFlagSet("cert node", flag.ContinueOnError)
	caDir := fs.String("ca-dir", "", "folder of the cluster CA (tablecast cert ca)")
	name := fs.String("name", "", `node name (tablecast.name); "*" makes one shared certificate any node may use (any-node.crt: Fly.io, where machines are named at boot)`)
	hosts := fs.String("host", "", "comma-separated IP addresses and DNS names of the node (subject alternative names)")
	out := fs.String("out", "", "folder to write NAME.crt, NAME.key and ca.crt to")
	days := fs.Int("days", int(nodetls.DefaultNodeValidity/(24*time.Hour)), "validity in days")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *caDir == "" || *name == "" || *out == "" || *days <= 0 {
		return fmt.Errorf("cert node: -ca-dir, -name and -out are required, -days must be positive")
	}
	cert, key, err := nodetls.IssueNode(*caDir, *out, nodetls.Node{
		Name: *name, Hosts: strings.Split(*hosts, ","), NotAfter: time.Now().Add(time.Duration(*days) * 24 * time.Hour),
	})
	if err != nil {
		return fmt.Errorf("cert node: %w", err)
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	fmt.Printf("node certificate written: %s, %s\n\nIn the node's config (tablecast section):\n  tls:\n    ca: %q\n    cert: %q\n    key: %q\n",
		cert, key, abs(filepath.Join(*out, nodetls.CACertFile)), abs(cert), abs(key))
	return nil
}

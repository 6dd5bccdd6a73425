// Command tablecast runs a node of a tablecast cluster, a local dev
// cluster, and the operator's sub-commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `tablecast publishes SQLite tables worldwide over LiteFS.

Usage:
  tablecast serve -config litefs.yml   run a node
  tablecast dev [-dir DIR]             run a local cluster (primary + 2 replicas) with sample data
  tablecast token create [-name NAME] [-scope read,write,publish,schema,admin]
                                      make a config token offline: prints the secret and its config entry
  tablecast token create -scope S [-expires 30d] [-name N] -url URL -token ADMIN
                                      make a token through the primary's admin API (prints the secret once)
  tablecast token list | token revoke NAME   (-url URL -token ADMIN, or TABLECAST_URL/TABLECAST_TOKEN)
  tablecast import FILE.db [-db NAME] [-replace] [-keep-public] [-wait 10m] -url URL -token ADMIN
                                      import a SQLite file as a database (private unless -keep-public);
                                      returns when every node has it (-wait at most; 0: the primary's answer)
  tablecast cluster status            every node: region, role, raft, readiness, lag, TXIDs
  tablecast cluster remove NODE       take a node out of the cluster
  tablecast primary handoff [NODE]    move the primary (to NODE, or any candidate)
                                      (cluster/primary take -url URL -token T, or TABLECAST_URL/TABLECAST_TOKEN)
  tablecast insert DB TABLE FILE|- [-csv|-tsv|-json|-nl] [-pk COL]... [-detect-types] [-replace|-ignore] [-alter]
                                      insert rows of a CSV, TSV, JSON or newline-delimited JSON file
                                      in batches (-url URL -token T, or TABLECAST_URL/TABLECAST_TOKEN)
  tablecast cert ca -dir DIR           make the cluster CA (ECDSA P-256): DIR/ca.crt, DIR/ca.key
  tablecast cert node -ca-dir DIR -name NODE -host IP,HOST -out DIR2
                                      sign a node certificate (mutual TLS between nodes): DIR2/NODE.crt, NODE.key, ca.crt
  tablecast delay-proxy -target HOST:PORT -delay 50ms   a TCP proxy adding one-way delay (simulated regions)
  tablecast fuse-abort DIR             abort a killed node's dead FUSE mount (systemd ExecStopPost)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "tablecast:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:])
	case "dev":
		return runDev(ctx, args[1:])
	case "token":
		return runToken(args[1:])
	case "cluster":
		return runCluster(ctx, args[1:])
	case "import":
		return runImport(ctx, args[1:])
	case "primary":
		return runPrimary(ctx, args[1:])
	case "insert":
		return runInsert(ctx, args[1:])
	case "cert":
		return runCert(args[1:])
	case "delay-proxy":
		return runDelayProxy(ctx, args[1:])
	case "fuse-abort":
		return runFUSEAbort(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("%q is not a log level (debug, info, warn, error)", s)
	}
	return l, nil
}

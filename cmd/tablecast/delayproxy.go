package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/tablecast/tablecast/deploy/devcluster"
)

// runDelayProxy: `tablecast delay-proxy -listen ADDR -target ADDR -delay 50ms`.
func runDelayProxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("delay-proxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to accept on")
	target := fs.String("target", "", "address to forward to (host:port)")
	delay := fs.Duration("delay", 50*time.Millisecond, "one-way delay added in each direction")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		return errors.New("delay-proxy: -target is required")
	}
	p := &devcluster.DelayProxy{Target: *target, Delay: *delay}
	if err := p.Listen(*listen); err != nil {
		return err
	}
	fmt.Printf("delay proxy %s -> %s (+%s each way)\n", p.Addr(), *target, *delay)
	<-ctx.Done()
	return p.Close()
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ordersvc/ordersvc/internal/loadgen"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// newFlagSet defines the flags over c. Parse errors are returned, not
// printed; run prints them on one line.
func newFlagSet(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	o := &c.opts
	fs.StringVar(&c.rawURL, "url", c.rawURL, "base `URL` of the service")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a target that is not loopback")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "target requests/s, open-loop; 0 = flat out")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "max requests in flight (workers when flat out); 0 = rate×timeout, or 16 flat out")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "stop after this long; 0 = no limit")
	fs.Int64Var(&o.Requests, "requests", 0, "stop after sending this many requests; 0 = no limit")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "per-request timeout, body included")
	fs.Var(&o.Mix, "mix", "relative weights of the request kinds, as a `list` orders=N,reads=N,junk=N")
	fs.Float64Var(&o.IdempotencyShare, "idempotency", o.IdempotencyShare, "share (0..1) of orders sent with an Idempotency-Key")
	fs.Uint64Var(&o.Seed, "seed", 0, "seed of the request generators; 0 = random")
	fs.StringVar(&c.adminToken, "admin-token", "", "admin bearer token for -faults (default $ADMIN_TOKEN, or the file named by $ADMIN_TOKEN_FILE)")
	fs.StringVar(&c.rawFaults, "faults", "", "JSON object to PUT to /admin/faults before the run; {} is PUT after it")
	fs.BoolVar(&c.jsonOut, "json", false, "print the final report as JSON")
	fs.BoolVar(&c.progress, "progress", c.progress, "print a progress line every second to stderr")
	return fs
}

// run is main without the exit: flags → options → run → report → exit code
// (0 ok, 1 run failed, 2 bad flags). The engine is internal/loadgen.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cfg := newConfig()
	fs := newFlagSet(cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "usage: loadgen [flags]   (go doc ./cmd/loadgen for details)")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	if err := cfg.finish(fs.Args(), getenv); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, restore the default so a second one quits.
	context.AfterFunc(ctx, stop)

	fmt.Fprintln(stderr, cfg.describe())
	if cfg.faults != nil {
		if err := putFaults(ctx, cfg.opts.BaseURL, cfg.adminToken, cfg.faults, cfg.opts.Timeout); err != nil {
			fmt.Fprintf(stderr, "loadgen: set faults: %v\n", err)
			return 1
		}
		defer func() {
			// Reset even after an interrupt, hence not ctx.
			if err := putFaults(context.Background(), cfg.opts.BaseURL, cfg.adminToken, []byte("{}"), cfg.opts.Timeout); err != nil {
				fmt.Fprintf(stderr, "loadgen: reset faults: %v\n", err)
			}
		}()
	}
	if cfg.progress {
		cfg.opts.Progress = stderr
	}

	rep, err := loadgen.Run(ctx, cfg.opts)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	if rep.StopReason == loadgen.StopInterrupted {
		fmt.Fprintln(stderr, "loadgen: interrupted; in-flight requests were drained")
	}
	if cfg.jsonOut {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	if rep.Requests > 0 && rep.Responses() == 0 {
		fmt.Fprintf(stderr, "loadgen: no HTTP response from %s in %d requests\n", rep.Target, rep.Requests)
		return 1
	}
	return 0
}

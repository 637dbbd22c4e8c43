// Command floorcompare drives the floor (a plain net/http server on the
// service's own store and transaction) and the full service side by side
// with POST /orders, in alternating closed-loop rounds, and prints
// throughput, p50, p99 and the service/floor ratios (SPEC §10):
//
//	cd bench && go run ./cmd/floorcompare                       # every scenario, 3×10s, 16 connections
//	go run ./cmd/floorcompare -scenarios sqlite -rounds 5 -duration 5s
//	go run ./cmd/floorcompare -cpuprofile /tmp/svc              # /tmp/svc-<scenario>-<round>.pprof
//
// Everything runs in this process on 127.0.0.1: the SQLite files and the
// PostgreSQL server (from the machine's binaries, via pgtest) are
// temporary and removed at the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc/bench"
)

func main() {
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := bench.DefaultCompareOptions()
	fs := flag.NewFlagSet("floorcompare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenarios := fs.String("scenarios", strings.Join(o.Scenarios, ","), "comma-separated scenarios: "+strings.Join(bench.Scenarios(), ", "))
	fs.IntVar(&o.Rounds, "rounds", o.Rounds, "rounds per side")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "length of a round")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "an uncounted round per side first (0: none)")
	fs.IntVar(&o.Conns, "conns", o.Conns, "connections, each with one request in flight")
	fs.IntVar(&o.Products, "products", o.Products, "products in each catalog")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "path prefix for a CPU profile of each service round")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.Scenarios = strings.Split(*scenarios, ",")
	o.Progress = stderr
	results, err := bench.Compare(ctx, o)
	if len(results) > 0 {
		_ = bench.WriteTable(stdout, results)
	}
	if err != nil {
		fmt.Fprintf(stderr, "floorcompare: %v\n", err)
		return 1
	}
	return 0
}

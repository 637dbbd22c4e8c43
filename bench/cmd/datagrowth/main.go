// Command datagrowth fills a SQLite database with orders in stages (10k,
// 1M, 10M by default) and 100k products, by direct SQL in the store's
// schema (order_totals kept consistent), and measures the service built
// by internal/app on it at each stage: GET /reports/summary, an inventory
// page, GET /orders/:id and a /metrics scrape, one request at a time,
// median and p90 (SPEC §10: the summary at 10M within 1.5× of 10k).
//
//	cd bench && go run ./cmd/datagrowth                       # ~2 GB in a temporary directory, removed at the end
//	go run ./cmd/datagrowth -stages 10000,1000000 -samples 20
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
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
	fs := flag.NewFlagSet("datagrowth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stages := fs.String("stages", "10000,1000000,10000000", "order counts to measure at, ascending")
	products := fs.Int("products", 100_000, "products in the catalog")
	samples := fs.Int("samples", 50, "requests per endpoint and stage")
	dir := fs.String("dir", "", "directory for the database (default: a temporary one, removed at the end)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o := bench.DefaultGrowthOptions(*dir)
	o.Products, o.Samples, o.Progress, o.Stages = *products, *samples, stderr, nil
	for _, s := range strings.Split(*stages, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n <= 0 {
			fmt.Fprintf(stderr, "datagrowth: -stages: %q is not a positive count\n", s)
			return 2
		}
		o.Stages = append(o.Stages, n)
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "ordersvc-growth-")
		if err != nil {
			fmt.Fprintf(stderr, "datagrowth: %v\n", err)
			return 1
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	results, err := bench.Growth(ctx, o)
	if len(results) > 0 {
		_ = bench.WriteGrowthTable(stdout, results)
	}
	if err != nil {
		fmt.Fprintf(stderr, "datagrowth: %v\n", err)
		return 1
	}
	return 0
}

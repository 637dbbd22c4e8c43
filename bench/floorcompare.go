package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/internal/app"
	"github.com/ordersvc/ordersvc/internal/testkit/pgtest"
	"github.com/ordersvc/ordersvc/postgres"
	"github.com/ordersvc/ordersvc/sqlite"
)

// The side-by-side comparison of SPEC §10: the floor and the full service
// (internal/app, as cmd/server builds it: LOG_LEVEL=warn, Sentry and
// tracing off) on the same kind of store, each on a database of its own,
// driven in alternating rounds with the same connections and duration, so
// that a noisy neighbour on a shared machine disturbs both sides alike.

// The scenarios Compare knows.
const (
	// ScenarioSQLite: floor and service each on a temporary SQLite file.
	ScenarioSQLite = "sqlite"
	// ScenarioPostgres: floor and one service replica, each on a database
	// of a throwaway PostgreSQL server (internal/testkit/pgtest).
	ScenarioPostgres = "postgres"
	// ScenarioPostgres2: two service replicas sharing one database, the
	// driver's connections split between them, against one floor.
	ScenarioPostgres2 = "postgres-2replicas"
)

// Scenarios lists every scenario in the order Compare runs them.
func Scenarios() []string { return []string{ScenarioSQLite, ScenarioPostgres, ScenarioPostgres2} }

// CompareOptions configure Compare.
type CompareOptions struct {
	Scenarios []string
	// Rounds per side; the sides alternate, and every other round the
	// service goes first, so a slow drift weighs on both.
	Rounds   int
	Duration time.Duration // of each round
	// Warmup is a round per side, not counted, before the first.
	Warmup   time.Duration
	Conns    int
	Products int // products in each catalog, with ample stock
	// CPUProfile, when set, is a path prefix: each service round writes
	// a CPU profile to <prefix>-<scenario>-<round>.pprof.
	CPUProfile string
	// Progress receives a line per round; nil is silent.
	Progress io.Writer
}

// DefaultCompareOptions are the settings: 3 rounds of 10 s per
// side, 16 connections, every scenario.
func DefaultCompareOptions() CompareOptions {
	return CompareOptions{Scenarios: Scenarios(), Rounds: 3, Duration: 10 * time.Second, Warmup: 2 * time.Second,
		Conns: 16, Products: 100}
}

// Round is one round of one side.
type Round struct {
	Side   string // "floor" or "service"
	Number int
	Result *DriveResult
}

// SideBySide is the outcome of one scenario.
type SideBySide struct {
	Scenario       string
	Floor, Service DriveResult // all rounds merged
	Rounds         []Round
}

// Compare runs the scenarios and returns their outcomes. A PostgreSQL
// server is started (and stopped) only if a scenario needs one.
func Compare(ctx context.Context, o CompareOptions) ([]SideBySide, error) {
	if o.Rounds <= 0 || o.Duration <= 0 || o.Conns <= 0 || o.Products <= 0 {
		return nil, fmt.Errorf("compare: rounds %d, duration %v, conns %d, products %d: all must be positive",
			o.Rounds, o.Duration, o.Conns, o.Products)
	}
	env := &compareEnv{}
	defer env.close()
	var out []SideBySide
	for _, sc := range o.Scenarios {
		r, err := env.runScenario(ctx, sc, o)
		if err != nil {
			return out, fmt.Errorf("scenario %s: %w", sc, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// compareEnv holds what scenarios share: a temporary directory and the
// PostgreSQL server, created on first use.
type compareEnv struct {
	dir  string
	pg   *pgtest.Server
	dbs  int
	undo []func() error
}

func (e *compareEnv) close() {
	for i := len(e.undo) - 1; i >= 0; i-- {
		_ = e.undo[i]()
	}
	if e.pg != nil {
		_ = e.pg.Close()
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

func (e *compareEnv) tempDir() (string, error) {
	if e.dir == "" {
		d, err := os.MkdirTemp("", "ordersvc-floor-")
		if err != nil {
			return "", fmt.Errorf("temporary directory: %w", err)
		}
		e.dir = d
	}
	return e.dir, nil
}

// newPostgresDB creates an empty database on the shared server, starting
// it first if needed, and returns its URL.
func (e *compareEnv) newPostgresDB(ctx context.Context) (string, error) {
	if e.pg == nil {
		bin, err := pgtest.FindBinaries()
		if err != nil {
			return "", err
		}
		if e.pg, err = pgtest.Start(ctx, bin); err != nil {
			return "", fmt.Errorf("start PostgreSQL: %w", err)
		}
	}
	e.dbs++
	name := "floor_" + strconv.Itoa(e.dbs)
	conn, err := pgx.Connect(ctx, e.pg.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return e.pg.URL(name), nil
}

// catalog returns n products with stock no run can exhaust.
func catalog(n int) []ordersvc.Product {
	ps := make([]ordersvc.Product, n)
	for i := range ps {
		ps[i] = ordersvc.Product{ID: fmt.Sprintf("p-%05d", i+1), Name: fmt.Sprintf("Product %d", i+1),
			UnitPrice: ordersvc.Money(100 + i), Stock: ordersvc.MaxStock}
	}
	return ps
}

func productIDs(ps []ordersvc.Product) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// floorStore is what the floor needs of a store.
type floorStore interface {
	ordersvc.OrderService
	SeedIfEmpty(ctx context.Context, products []ordersvc.Product) (bool, error)
	Close() error
}

// startSides opens the scenario's stores and starts the floor and the
// service replicas; what it started is undone by e.close.
func (e *compareEnv) startSides(ctx context.Context, sc string, products []ordersvc.Product) (floorURL string, serviceURLs []string, err error) {
	var floorDB floorStore
	var serviceURL string
	replicas := 1
	switch sc {
	case ScenarioSQLite:
		dir, err := e.tempDir()
		if err != nil {
			return "", nil, err
		}
		floorDB, err = sqlite.Open(ctx, filepath.Join(dir, "floor.db"), sqlite.Options{})
		if err != nil {
			return "", nil, fmt.Errorf("open the floor's store: %w", err)
		}
		serviceURL = "sqlite://" + filepath.ToSlash(filepath.Join(dir, "service.db"))
	case ScenarioPostgres, ScenarioPostgres2:
		floorURL, err := e.newPostgresDB(ctx)
		if err != nil {
			return "", nil, err
		}
		if floorDB, err = postgres.Open(ctx, floorURL, postgres.Options{}); err != nil {
			return "", nil, fmt.Errorf("open the floor's store: %w", err)
		}
		if serviceURL, err = e.newPostgresDB(ctx); err != nil {
			_ = floorDB.Close()
			return "", nil, err
		}
		if sc == ScenarioPostgres2 {
			replicas = 2
		}
	default:
		return "", nil, fmt.Errorf("unknown scenario %q (want one of %v)", sc, Scenarios())
	}
	e.undo = append(e.undo, floorDB.Close)
	if _, err := floorDB.SeedIfEmpty(ctx, products); err != nil {
		return "", nil, fmt.Errorf("seed the floor's catalog: %w", err)
	}
	floor, err := StartFloor(floorDB)
	if err != nil {
		return "", nil, err
	}
	e.undo = append(e.undo, floor.Close)
	for range replicas {
		u, err := e.startService(ctx, serviceURL, products)
		if err != nil {
			return "", nil, err
		}
		serviceURLs = append(serviceURLs, u)
	}
	return floor.URL(), serviceURLs, nil
}

// startService builds the service as cmd/server does (internal/app) on
// databaseURL, seeds its catalog and serves it on loopback.
func (e *compareEnv) startService(ctx context.Context, databaseURL string, products []ordersvc.Product) (string, error) {
	env := map[string]string{"DATABASE_URL": databaseURL, "LOG_LEVEL": "warn", "HTTP_ADDR": "127.0.0.1:0"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, "floor")
	if err != nil {
		return "", fmt.Errorf("service configuration: %w", err)
	}
	a, err := app.New(ctx, cfg, app.Options{Registry: prometheus.NewRegistry(), NoSeed: true})
	if err != nil {
		return "", fmt.Errorf("build the service: %w", err)
	}
	e.undo = append(e.undo, a.Close)
	if _, err := a.Store.SeedIfEmpty(ctx, products); err != nil {
		return "", fmt.Errorf("seed the service's catalog: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen on loopback: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	e.undo = append(e.undo, func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return errors.Join(a.Shutdown(sctx), <-served)
	})
	return "http://" + ln.Addr().String(), nil
}

// runScenario starts both sides and drives them in alternating rounds.
func (e *compareEnv) runScenario(ctx context.Context, sc string, o CompareOptions) (SideBySide, error) {
	products := catalog(o.Products)
	floorURL, serviceURLs, err := e.startSides(ctx, sc, products)
	if err != nil {
		return SideBySide{}, err
	}
	ids := productIDs(products)
	drive := func(urls []string, d time.Duration, seed uint64) (*DriveResult, error) {
		return Drive(ctx, DriveOptions{URLs: urls, Conns: o.Conns, Duration: d, Products: ids, Seed: seed})
	}
	if o.Warmup > 0 {
		for _, urls := range [][]string{{floorURL}, serviceURLs} {
			if _, err := drive(urls, o.Warmup, 0); err != nil {
				return SideBySide{}, err
			}
		}
	}
	out := SideBySide{Scenario: sc}
	for round := 1; round <= o.Rounds; round++ {
		sides := []string{"floor", "service"}
		if round%2 == 0 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, side := range sides {
			urls, dst := []string{floorURL}, &out.Floor
			if side == "service" {
				urls, dst = serviceURLs, &out.Service
			}
			stop, err := e.profile(o.CPUProfile, side, sc, round)
			if err != nil {
				return out, err
			}
			// The same seed for both sides of a round: the same bodies.
			res, err := drive(urls, o.Duration, uint64(round))
			stop()
			if err != nil {
				return out, err
			}
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			dst.Add(res)
			out.Rounds = append(out.Rounds, Round{Side: side, Number: round, Result: res})
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "%s round %d %-7s %8.0f orders/s  p50 %-8v p99 %-8v cpu/order %-8v failed %d %s\n", sc, round, side,
					res.Throughput(), roundDur(res.Latency.Quantile(0.5)), roundDur(res.Latency.Quantile(0.99)), res.CPUPerOrder(),
					res.Failed, res.FirstError)
			}
		}
	}
	return out, nil
}

// profile starts a CPU profile of a service round when prefix is set.
func (e *compareEnv) profile(prefix, side, sc string, round int) (stop func(), err error) {
	if prefix == "" || side != "service" {
		return func() {}, nil
	}
	path := fmt.Sprintf("%s-%s-%d.pprof", prefix, sc, round)
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// WriteTable prints every round's raw figures, then per scenario the
// merged figures of both sides and the service/floor ratios.
func WriteTable(w io.Writer, results []SideBySide) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tround\tside\torders/s\tp50\tp99\tcpu/order\tfailed\t")
	for _, r := range results {
		for _, rd := range r.Rounds {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%.0f\t%v\t%v\t%v\t%d\t\n", r.Scenario, rd.Number, rd.Side, rd.Result.Throughput(),
				roundDur(rd.Result.Latency.Quantile(0.5)), roundDur(rd.Result.Latency.Quantile(0.99)),
				roundDur(rd.Result.CPUPerOrder()), rd.Result.Failed)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tfloor orders/s\tservice orders/s\tratio\tfloor p50\tservice p50\tfloor p99\tservice p99\tp99 ratio\tfloor cpu/order\tservice cpu/order\tcpu ratio\t")
	for _, r := range results {
		f, s := &r.Floor, &r.Service
		fp99, sp99 := f.Latency.Quantile(0.99), s.Latency.Quantile(0.99)
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.3f\t%v\t%v\t%v\t%v\t%.3f\t%v\t%v\t%.3f\t\n", r.Scenario, f.Throughput(), s.Throughput(),
			s.Throughput()/f.Throughput(), roundDur(f.Latency.Quantile(0.5)), roundDur(s.Latency.Quantile(0.5)),
			roundDur(fp99), roundDur(sp99), float64(sp99)/float64(fp99),
			roundDur(f.CPUPerOrder()), roundDur(s.CPUPerOrder()), float64(s.CPUPerOrder())/float64(f.CPUPerOrder()))
	}
	return tw.Flush()
}

// Command server runs ordersvc: configuration from the environment, the
// embedded SQLite store, metrics, error tracking and the HTTP API, with a
// graceful shutdown on SIGTERM or SIGINT. It only wires things up.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/errortracking"
	"github.com/ordersvc/ordersvc/faults"
	"github.com/ordersvc/ordersvc/handlers"
	"github.com/ordersvc/ordersvc/metrics"
	"github.com/ordersvc/ordersvc/sqlite"
)

// Set by the linker (-ldflags "-X main.version=… -X main.revision=…");
// otherwise read from the Go build information.
var version, revision string

// exitConfig is the exit code for an invalid configuration.
const exitConfig = 2

func main() {
	if len(os.Args) == 2 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(os.LookupEnv, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.LookupEnv, os.Stderr, nil))
}

// run starts the server and blocks until ctx ends, then shuts down. It
// returns the process exit code. ready, when set, receives the listener's
// address once the server accepts connections (tests use it).
func run(ctx context.Context, lookup func(string) (string, bool), stderr io.Writer, ready chan<- string) int {
	build := metrics.ReadBuildInfo(version, revision)
	cfg, err := config.Load(lookup, os.ReadFile, build.Version)
	if err != nil {
		fmt.Fprintf(stderr, "ordersvc: invalid configuration: %v\n", err)
		return exitConfig
	}
	logger := newLogger(cfg, stderr)
	if err := serve(ctx, cfg, build, logger, ready); err != nil {
		logger.Error("server stopped with an error", "error", err.Error())
		return 1
	}
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func serve(ctx context.Context, cfg config.Config, build metrics.BuildInfo, logger *slog.Logger, ready chan<- string) error {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, reg, build)
	if err != nil {
		return err
	}
	dbPath, err := sqlite.PathFromURL(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	db, err := sqlite.Open(ctx, dbPath, sqlite.Options{Currency: cfg.Currency, Observer: m})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			logger.Error("close database", "error", err.Error())
		}
	}()
	if seeded, err := db.SeedIfEmpty(ctx, ordersvc.DemoCatalog()); err != nil {
		return fmt.Errorf("seed demo catalog: %w", err)
	} else if seeded {
		logger.Info("seeded the demo catalog", "products", len(ordersvc.DemoCatalog()))
	}
	if err := metrics.RegisterInventory(reg, db); err != nil {
		return err
	}
	tracker, err := errortracking.New(errortracking.Options{
		Logger:           logger,
		Panics:           m,
		Registerer:       reg,
		DSN:              cfg.SentryDSN,
		Environment:      cfg.SentryEnvironment,
		Release:          cfg.SentryRelease,
		TracesSampleRate: cfg.SentryTracesSampleRate,
		Secrets:          []string{cfg.AdminToken, cfg.AlertWebhookToken},
	})
	if err != nil {
		return fmt.Errorf("error tracking: %w", err)
	}
	// Pending events are flushed on every way out, within SHUTDOWN_TIMEOUT:
	// the graceful path below flushes inside its own deadline; any other
	// return flushes here.
	flushed := false
	defer func() {
		if !flushed {
			flushCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			flushEvents(flushCtx, tracker, logger)
		}
		tracker.Close()
	}()

	var draining atomic.Bool
	router := handlers.NewRouter(handlers.Deps{
		Orders: db, Inventory: db, Reports: db, Alerts: db, DB: db, AlertForwarder: tracker,
		Metrics: m, Tracker: tracker, Faults: &faults.Injector{}, Logger: logger,
		Draining: &draining, AdminToken: cfg.AdminToken, WebhookToken: cfg.AlertWebhookToken,
	})
	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           router,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second, // above the largest injected latency
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	logger.Info("ordersvc listening", "addr", ln.Addr().String(), "version", build.Version,
		"admin_api", cfg.AdminToken != "", "alert_webhook", cfg.AlertWebhookToken != "", "sentry", cfg.SentryDSN != "")
	if ready != nil {
		ready <- ln.Addr().String()
	}

	serveErr := make(chan error, 1)
	tracker.Go(ctx, "http-server", func(context.Context) {
		err := errServerPanicked
		defer func() { serveErr <- err }() // runs even if Serve panics
		err = srv.Serve(ln)
	})
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	draining.Store(true)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(shutdownCtx)
	flushEvents(shutdownCtx, tracker, logger)
	flushed = true
	if shutdownErr != nil {
		return fmt.Errorf("graceful shutdown: %w", shutdownErr)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("shutdown complete")
	return nil
}

// errServerPanicked is what the server goroutine reports if Serve panics
// (the panic itself is logged and reported by the tracker).
var errServerPanicked = errors.New("the HTTP server stopped with a panic")

// flushEvents delivers the error-tracking events still queued, bounded by
// ctx.
func flushEvents(ctx context.Context, tracker *errortracking.Tracker, logger *slog.Logger) {
	if !tracker.Flush(ctx) {
		logger.Warn("error tracking: some events were not delivered before the shutdown deadline")
	}
}

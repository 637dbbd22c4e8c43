// Package app assembles the whole service once: the store chosen from
// DATABASE_URL, the metrics registry, error tracking, fault injection, the
// router and the HTTP server, with the order in which they start and stop.
// The server's main, the tests and the benchmarks all build the service
// through New, so there is one wiring to read and to change.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/errortracking"
	"github.com/ordersvc/ordersvc/faults"
	"github.com/ordersvc/ordersvc/handlers"
	"github.com/ordersvc/ordersvc/metrics"
	"github.com/ordersvc/ordersvc/postgres"
	"github.com/ordersvc/ordersvc/sqlite"
	"github.com/ordersvc/ordersvc/tracing"
	"github.com/ordersvc/ordersvc/watchdog"
)

// Server timeouts. WriteTimeout stays above the largest injected latency,
// so a faulted request is slow rather than cut off.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 90 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
)

// dbUpTimeout bounds db_up's query at scrape time, so a hung database
// cannot hold a scrape.
const dbUpTimeout = time.Second

// Store is the service's database (ordersvc.Store), named here for the
// callers of Options.WrapStore.
type Store = ordersvc.Store

// Options are what a caller adds to the configuration. The zero value is
// what the server uses.
type Options struct {
	// Logger receives every log line; nil builds one from the
	// configuration's level and format, writing to LogOutput.
	Logger *slog.Logger
	// LogOutput is where a built logger writes (default os.Stderr).
	LogOutput io.Writer
	// Build labels app_build_info; empty fields read the binary's build
	// information.
	Build metrics.BuildInfo
	// Registry receives every metric; nil makes a new one.
	Registry *prometheus.Registry
	// AlertForwarder receives new firing critical alerts instead of error
	// tracking (tests record them).
	AlertForwarder handlers.AlertForwarder
	// NoSeed leaves an empty catalog empty (tests that build their own).
	NoSeed bool
	// PruneInterval is how often resolved alerts older than
	// ALERT_RETENTION are deleted; 0 derives it from the retention.
	PruneInterval time.Duration
	// SpanExporter, when set, receives the spans instead of the OTLP
	// exporter and turns tracing on without an endpoint (tests and
	// benchmarks).
	SpanExporter sdktrace.SpanExporter
	// WrapStore, when set, wraps the opened store before anything uses it
	// (tests inject failures through it). Closing the App closes the
	// store it returns.
	WrapStore func(Store) Store
}

// App is the assembled service.
type App struct {
	// Config is the configuration it was built from.
	Config config.Config
	// Logger is the service's logger.
	Logger *slog.Logger
	// Registry holds every metric /metrics serves.
	Registry *prometheus.Registry
	// Metrics are the service's metrics on Registry.
	Metrics *metrics.Metrics
	// Store is the database.
	Store Store
	// Tracker is error tracking.
	Tracker *errortracking.Tracker
	// Faults is the fault injector the admin API drives.
	Faults *faults.Injector
	// Tracing is the OpenTelemetry provider (disabled without an endpoint).
	Tracing *tracing.Provider
	// Watchdog is the dead man's switch on the Watchdog heartbeat.
	Watchdog *watchdog.Switch

	build    metrics.BuildInfo
	router   *gin.Engine
	stop     context.CancelFunc // ends the background work
	bg       sync.WaitGroup
	draining atomic.Bool
	server   *http.Server
	closed   atomic.Bool
}

// New builds the service from cfg: it opens (and migrates) the store,
// seeds the demo catalog into an empty one, and wires metrics, error
// tracking and the router. Nothing listens yet. Close the App when done.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	a := &App{Config: cfg, Logger: opts.Logger, Registry: opts.Registry, Faults: &faults.Injector{}}
	if a.Logger == nil {
		a.Logger = NewLogger(cfg, opts.LogOutput)
	} else {
		a.Logger = slog.New(tracing.LogHandler(a.Logger.Handler()))
	}
	if a.Registry == nil {
		a.Registry = prometheus.NewRegistry()
	}
	a.build = opts.Build
	if a.build == (metrics.BuildInfo{}) {
		a.build = metrics.ReadBuildInfo("", "")
	}
	var err error
	if a.Metrics, err = metrics.New(a.Registry, a.Registry, a.build); err != nil {
		return nil, err
	}
	if a.Tracing, err = tracing.New(ctx, cfg, tracing.Options{Registerer: a.Registry, ServiceVersion: a.build.Version, Exporter: opts.SpanExporter}); err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	if a.Tracing.Enabled() {
		a.Metrics.HTTP.EnableExemplars(tracing.TraceID)
	}
	// Error tracking comes before the store: a bad DSN must stop the start
	// before a database file is created.
	if a.Tracker, err = errortracking.New(errortracking.Options{
		Logger:           a.Logger,
		Panics:           a.Metrics,
		RequestTags:      handlers.ErrorTags,
		Registerer:       a.Registry,
		DSN:              cfg.SentryDSN,
		Environment:      cfg.SentryEnvironment,
		Release:          cfg.SentryRelease,
		TracesSampleRate: cfg.SentryTracesSampleRate,
		Secrets:          cfg.Secrets(),
	}); err != nil {
		return nil, fmt.Errorf("error tracking: %w", err)
	}
	if a.Store, err = openStore(ctx, cfg, a.Metrics, a.Tracing); err != nil {
		a.Tracker.Close()
		_ = a.Tracing.Shutdown(ctx)
		return nil, err
	}
	if opts.WrapStore != nil {
		a.Store = opts.WrapStore(a.Store)
	}
	if err := a.init(ctx, opts); err != nil {
		_ = a.Close()
		return nil, err
	}
	return a, nil
}

// init seeds the catalog and builds the router, once the store is open.
func (a *App) init(ctx context.Context, opts Options) error {
	if !opts.NoSeed {
		catalog := ordersvc.DemoCatalog()
		seeded, err := a.Store.SeedIfEmpty(ctx, catalog)
		if err != nil {
			return fmt.Errorf("seed the demo catalog: %w", err)
		}
		if seeded {
			a.Logger.Info("seeded the demo catalog", "products", len(catalog))
		}
	}
	if err := metrics.RegisterInventory(a.Registry, a.Store); err != nil {
		return err
	}
	if err := metrics.RegisterPools(a.Registry, a.Store); err != nil {
		return err
	}
	if err := metrics.RegisterHeartbeat(a.Registry, a.Store); err != nil {
		return err
	}
	if err := metrics.RegisterDBUp(a.Registry, a.Store, dbUpTimeout); err != nil {
		return err
	}
	a.Watchdog = &watchdog.Switch{Store: a.Store, Reporter: a.Tracker, Logger: a.Logger, Timeout: a.Config.HeartbeatTimeout}
	var forwarder handlers.AlertForwarder = a.Tracker
	if opts.AlertForwarder != nil {
		forwarder = opts.AlertForwarder
	}
	a.router = handlers.NewRouter(handlers.Deps{
		Orders: a.Store, Inventory: a.Store, Reports: a.Store, Alerts: a.Store, DB: a.Store,
		AlertForwarder: forwarder, Heartbeat: a.Watchdog, Heartbeats: a.Store, HeartbeatTimeout: a.Config.HeartbeatTimeout,
		Metrics: a.Metrics, Tracker: a.Tracker, Faults: a.Faults, Tracing: a.Tracing,
		Logger: a.Logger, Draining: &a.draining,
		AdminToken: a.Config.AdminToken, WebhookToken: a.Config.AlertWebhookToken,
	})
	bgCtx, stop := context.WithCancel(context.Background())
	a.stop = stop
	a.bg.Add(2)
	a.Tracker.Go(bgCtx, "alert-retention", func(ctx context.Context) {
		defer a.bg.Done()
		a.pruneAlerts(ctx, opts.PruneInterval)
	})
	a.Tracker.Go(bgCtx, "dead-mans-switch", func(ctx context.Context) {
		defer a.bg.Done()
		a.Watchdog.Run(ctx)
	})
	a.server = &http.Server{
		Handler:           a.router,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
	return nil
}

// Bounds of the retention loop's interval.
const (
	minPruneInterval = time.Minute
	maxPruneInterval = time.Hour
)

// pruneAlerts deletes resolved alerts older than ALERT_RETENTION, at once
// and then every interval (by default a 24th of the retention, within
// minPruneInterval..maxPruneInterval), until ctx ends. A failure is logged
// and retried at the next tick: retention is housekeeping, not a request.
func (a *App) pruneAlerts(ctx context.Context, interval time.Duration) {
	retention := a.Config.AlertRetention
	if retention <= 0 {
		return
	}
	if interval <= 0 {
		interval = min(max(retention/24, minPruneInterval), maxPruneInterval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := a.Store.DeleteResolvedAlerts(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			a.Logger.Warn("alert retention: delete failed", "error", err.Error())
		case n > 0:
			a.Logger.Info("alert retention: deleted resolved alerts", "deleted", n, "retention", retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// openStore opens the store DATABASE_URL names.
func openStore(ctx context.Context, cfg config.Config, observer tracing.QueryObserver, tp *tracing.Provider) (Store, error) {
	switch cfg.Database.Driver {
	case config.DriverSQLite:
		db, err := sqlite.Open(ctx, cfg.Database.Path, sqlite.Options{Currency: cfg.Currency, Observer: observer, Tracing: tp})
		if err != nil {
			return nil, fmt.Errorf("open the store: %w", err)
		}
		return db, nil
	case config.DriverPostgres:
		db, err := postgres.Open(ctx, cfg.Database.URL, postgres.Options{Currency: cfg.Currency, Observer: observer, Tracing: tp})
		if err != nil {
			return nil, fmt.Errorf("open the store: %w", err) // postgres.Open's errors never hold the password
		}
		return db, nil
	}
	return nil, &config.Error{Var: "DATABASE_URL", Reason: "no store for " + cfg.Database.String()}
}

// NewLogger returns the slog logger the configuration asks for, writing to
// w (os.Stderr when nil).
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	// Every line written while serving a request carries its request id
	// and, when traced, its trace and span ids.
	return slog.New(tracing.LogHandler(h))
}

// Middleware returns the production middleware stack of this App, as its
// router uses it, for benchmarks that put it in front of a handler of
// their own.
func (a *App) Middleware() []gin.HandlerFunc {
	return handlers.Middleware(handlers.StackOptions{Logger: a.Logger, Metrics: a.Metrics.HTTP, Tracker: a.Tracker, Faults: a.Faults, Tracing: a.Tracing})
}

// Handler is the service's HTTP handler: the router with its middleware.
func (a *App) Handler() http.Handler { return a.router }

// Draining reports whether shutdown has begun (readiness answers 503).
func (a *App) Draining() bool { return a.draining.Load() }

// errServerPanicked is what Serve returns if the HTTP server panics (the
// panic itself is logged and reported by the tracker).
var errServerPanicked = errors.New("the HTTP server stopped with a panic")

// Serve accepts connections on ln until Shutdown. It returns nil after a
// graceful shutdown and the server's error otherwise. Call it once.
func (a *App) Serve(ln net.Listener) error {
	a.Logger.Info("ordersvc listening", "addr", ln.Addr().String(), "version", a.build.Version,
		"admin_api", a.Config.AdminToken != "", "alert_webhook", a.Config.AlertWebhookToken != "",
		"sentry", a.Tracker.Enabled())
	err := errServerPanicked
	a.Tracker.Run(context.Background(), "http-server", func(context.Context) {
		err = a.server.Serve(ln)
	})
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve: %w", err)
}

// Drain begins a shutdown: readiness answers 503 from now on, so load
// balancers stop routing here, while requests are still served; injected
// latency ends at once. Shutdown drains too; calling Drain first lets a
// caller keep serving for a while (SHUTDOWN_DELAY) before the listener
// closes.
func (a *App) Drain() {
	if !a.draining.Swap(true) {
		a.Logger.Info("draining: readiness answers 503")
	}
	a.Faults.Stop()
}

// Shutdown stops the service gracefully within ctx: it drains, closes the
// listener, lets open requests finish and flushes pending error reports.
// Connections still open when ctx ends are closed.
func (a *App) Shutdown(ctx context.Context) error {
	a.Drain()
	a.Logger.Info("shutting down")
	var err error
	if err = a.server.Shutdown(ctx); err != nil {
		err = fmt.Errorf("graceful shutdown: %w", err)
		_ = a.server.Close()
	}
	if !a.Tracker.Flush(ctx) {
		a.Logger.Warn("error tracking: some events were not delivered before the shutdown deadline")
	}
	if terr := a.Tracing.ForceFlush(ctx); terr != nil {
		a.Logger.Warn("tracing: spans not exported before the shutdown deadline", "error", terr.Error())
	}
	return err
}

// Run serves on ln until ctx ends; then it drains for SHUTDOWN_DELAY
// (readiness 503, still serving) and shuts down within SHUTDOWN_TIMEOUT.
// It returns nil after a clean shutdown.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	a.Drain()
	if d := a.Config.ShutdownDelay; d > 0 {
		a.Logger.Info("serving while load balancers notice the drain", "delay", d.String())
		select {
		case <-time.After(d):
		case err := <-served:
			return err
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	err := a.Shutdown(shutdownCtx)
	if serveErr := <-served; err == nil {
		err = serveErr
	}
	if err == nil {
		a.Logger.Info("shutdown complete")
	}
	return err
}

// Close releases error tracking and the store. Events still queued are
// dropped: Shutdown flushes them first. Close is idempotent.
func (a *App) Close() error {
	if a.closed.Swap(true) {
		return nil
	}
	if a.stop != nil {
		a.stop()
		a.bg.Wait()
	}
	a.Tracker.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = a.Tracing.Shutdown(shutdownCtx) // flushed by Shutdown already; this stops the exporter
	if a.Store == nil {
		return nil
	}
	if err := a.Store.Close(); err != nil {
		return fmt.Errorf("close the store: %w", err)
	}
	return nil
}

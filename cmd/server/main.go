// Command server runs ordersvc: configuration from the environment, the
// service assembled by internal/app, and a graceful shutdown on SIGTERM or
// SIGINT. It only wires things up.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/internal/app"
	"github.com/ordersvc/ordersvc/metrics"
)

// Set by the linker (-ldflags "-X main.version=… -X main.revision=…");
// otherwise read from the Go build information.
var version, revision string

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitConfig = 2 // an invalid configuration
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(os.LookupEnv, os.Stderr))
	}
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.LookupEnv, os.Stderr, nil))
}

// run starts the server and blocks until ctx ends, then shuts down. It
// returns the process exit code. ready, when set, receives the listener's
// address once the server accepts connections (tests use it).
func run(ctx context.Context, lookup func(string) (string, bool), stderr io.Writer, ready chan<- string) int {
	build := metrics.ReadBuildInfo(version, revision)
	cfg, err := config.Load(lookup, config.ReadSecretFile, build.Version)
	if err != nil {
		fmt.Fprintf(stderr, "ordersvc: invalid configuration: %v\n", err)
		return exitConfig
	}
	a, err := app.New(ctx, cfg, app.Options{LogOutput: stderr, Build: build})
	if err != nil {
		if cfgErr := (*config.Error)(nil); errors.As(err, &cfgErr) {
			fmt.Fprintf(stderr, "ordersvc: invalid configuration: %v\n", cfgErr)
			return exitConfig
		}
		fmt.Fprintf(stderr, "ordersvc: %v\n", err)
		return exitFailed
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		a.Logger.Error("listen", "addr", cfg.HTTPAddr, "error", err.Error())
		return exitFailed
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}
	if err := a.Run(ctx, ln); err != nil {
		a.Logger.Error("server stopped with an error", "error", err.Error())
		return exitFailed
	}
	return exitOK
}

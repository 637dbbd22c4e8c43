package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/ordersvc/ordersvc/config"
)

// healthcheck probes the running server's /readyz on loopback and returns
// the exit code: 0 ready, 1 not. Container images without a shell or an
// HTTP client (distroless) run it as `server healthcheck`.
func healthcheck(lookup func(string) (string, bool), stderr io.Writer) int {
	addr := ":8080"
	if v, ok := lookup("HTTP_ADDR"); ok && v != "" {
		addr = v
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", &config.Error{Var: "HTTP_ADDR", Reason: err.Error()})
		return exitConfig
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort("127.0.0.1", port)+"/readyz", nil)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "healthcheck: /readyz answered %d\n", resp.StatusCode)
		return 1
	}
	return 0
}

// Package tests holds the end-to-end tests of ordersvc: the real service
// binary, Prometheus and two clustered Alertmanagers (pinned Go tools, see
// internal/gotool) and a local Sentry sink, all on 127.0.0.1, with the
// repository's own rule and config files made fast (SPEC.md §9); and a
// capture test that replays what a real Alertmanager sends to the webhook
// handler.
//
// Binaries are built once per run (the tools are cached across runs).
// Every process a test starts is stopped by its PID when the test ends,
// and its log is printed if the test failed.
package tests

import (
	"fmt"
	"os"
	"testing"

	amconfig "github.com/prometheus/alertmanager/config"
)

// TestMain sets up what every test shares: the directory the service
// binary is built into, and Alertmanager config marshalling.
func TestMain(m *testing.M) {
	// The Alertmanager configs the tests write contain webhook URLs, which
	// the config package otherwise marshals as "<secret>".
	amconfig.MarshalSecretValue = true
	dir, err := os.MkdirTemp("", "ordersvc-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

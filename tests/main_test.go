// Package tests holds the end-to-end tests of ordersvc: the real service
// binary, Prometheus and two clustered Alertmanagers (pinned Go tools, see
// internal/gotool) and a local Sentry sink, all on 127.0.0.1, with the
// repository's own rule and config files made fast (SPEC.md §9); and a
// capture test that replays what a real Alertmanager sends to the webhook
// handler.
//
// Binaries, processes, polling and the in-process service come from
// internal/testkit: binaries are built once per run (the tools are cached
// across runs), every process a test starts is stopped by its PID when the
// test ends, and its log is printed if the test failed.
package tests

import (
	"os"
	"testing"

	amconfig "github.com/prometheus/alertmanager/config"

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// TestMain sets up what every test shares, Alertmanager config
// marshalling, and removes the service binary testkit built.
func TestMain(m *testing.M) {
	// The Alertmanager configs the tests write contain webhook URLs, which
	// the config package otherwise marshals as "<secret>".
	amconfig.MarshalSecretValue = true
	code := m.Run()
	testkit.CleanupBinaries()
	os.Exit(code)
}

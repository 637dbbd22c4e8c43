// Package testkit holds the helpers every test package of ordersvc shares,
// so that each is written once: the repository's files, a configuration
// from a few variables, the service in process (built by internal/app, as
// the server builds it), metrics read from a registry or a scrape, the rule
// files parsed once, the binaries (the service and the pinned tools) built
// once per run, child processes started and stopped by PID, and polling
// with a deadline.
//
// It is imported only by tests.
package testkit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/internal/gotool"
)

// Tokens of the in-process service: test-only values that pass the
// configuration's token rules.
const (
	AdminToken   = "testkit-admin-token-0123456789"
	WebhookToken = "testkit-webhook-token-0123456789"
)

// RepoRoot returns the repository root or fails the test.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := gotool.RepoRoot()
	if err != nil {
		t.Fatalf("find the repository root: %v", err)
	}
	return root
}

// RepoFile returns the path of a file of the repository, given relative to
// its root with forward slashes.
func RepoFile(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), filepath.FromSlash(rel))
}

// ReadRepoFile returns a repository file's content or fails the test.
func ReadRepoFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(RepoFile(t, rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return b
}

// Config returns the configuration config.Load makes of env alone (no
// process environment), failing the test if it is invalid. Unless env says
// otherwise, the database is a new SQLite file in a temporary directory,
// the log level is warn and the admin and webhook tokens are AdminToken
// and WebhookToken; an empty value in env unsets a variable.
func Config(t testing.TB, env map[string]string) config.Config {
	t.Helper()
	vars := map[string]string{
		"DATABASE_URL":        "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "ordersvc.db")),
		"ADMIN_TOKEN":         AdminToken,
		"ALERT_WEBHOOK_TOKEN": WebhookToken,
		"LOG_LEVEL":           "warn",
	}
	for k, v := range env {
		vars[k] = v
	}
	lookup := func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok && v != ""
	}
	cfg, err := config.Load(lookup, os.ReadFile, "test")
	if err != nil {
		t.Fatalf("testkit.Config: %v", err)
	}
	return cfg
}

// Package gotool builds the pinned Go tools of the tools/ module
// (prometheus, promtool, alertmanager, amtool) and of the modules nested in
// it (jaeger, whose dependencies clash with Prometheus's) for tests, once per
// version.
//
// Binaries are cached under the user cache directory, keyed by a digest of
// the go.mod and go.sum of the tool's module, so repeated test runs (and
// parallel test packages) build each tool once. Building is not optional: a
// test that needs a tool fails loudly when it cannot be built.
package gotool

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// Packages maps a tool's name to its package path in the tools module.
var Packages = map[string]string{
	"prometheus":   "github.com/prometheus/prometheus/cmd/prometheus",
	"promtool":     "github.com/prometheus/prometheus/cmd/promtool",
	"alertmanager": "github.com/prometheus/alertmanager/cmd/alertmanager",
	"amtool":       "github.com/prometheus/alertmanager/cmd/amtool",
	"jaeger":       "github.com/jaegertracing/jaeger/cmd/jaeger",
}

// moduleDir returns the directory, relative to the repository root, of the
// Go module that pins the named tool: tools/ unless the tool needs a module
// of its own.
func moduleDir(name string) string {
	switch name {
	case "jaeger":
		return filepath.Join("tools", "jaeger")
	}
	return "tools"
}

// RepoRoot returns the module root of this repository (the directory with
// the go.mod that declares github.com/ordersvc/ordersvc), found by walking up
// from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/ordersvc/ordersvc\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root not found above the working directory")
		}
		dir = parent
	}
}

// Build returns the path of the named tool's binary, building it if the
// cache does not hold it for the current go.mod and go.sum of its module.
func Build(name string) (string, error) {
	pkg, ok := Packages[name]
	if !ok {
		return "", fmt.Errorf("unknown tool %q", name)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	modDir := moduleDir(name)
	toolsDir := filepath.Join(root, modDir)
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(toolsDir, f))
		if err != nil {
			return "", fmt.Errorf("read %s: %w", filepath.Join(modDir, f), err)
		}
		h.Write(b)
	}
	h.Write([]byte(runtime.Version()))
	cacheBase := os.Getenv("ORDERSVC_TOOL_CACHE")
	if cacheBase == "" {
		userCache, err := os.UserCacheDir()
		if err != nil {
			userCache = os.TempDir()
		}
		cacheBase = filepath.Join(userCache, "ordersvc-tools")
	}
	dir := filepath.Join(cacheBase, hex.EncodeToString(h.Sum(nil))[:16])
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create tool cache: %w", err)
	}
	// Parallel test packages may ask for the same tool at once: an exclusive
	// lock on a per-tool file makes one of them build while the others wait.
	lock, err := os.OpenFile(bin+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("open tool lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock tool cache: %w", err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	tmp := bin + ".tmp"
	cmd := exec.Command("go", "build", "-o", tmp, pkg)
	cmd.Dir = toolsDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s in %s: %w\n%s", pkg, modDir, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("install %s: %w", name, err)
	}
	return bin, nil
}

// Path is Build for tests: it fails the test (never skips) when the tool
// cannot be built.
func Path(t testing.TB, name string) string {
	t.Helper()
	bin, err := Build(name)
	if err != nil {
		t.Fatalf("build tool %s: %v", name, err)
	}
	return bin
}

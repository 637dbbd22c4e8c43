package testkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc/internal/gotool"
)

// buildTimeout bounds one go build of the service.
const buildTimeout = 10 * time.Minute

// ToolTimeout bounds one run of a pinned tool by RunTool.
const ToolTimeout = 5 * time.Minute

// once builds one executable once per test binary run, however many tests
// ask for it.
type once struct {
	once sync.Once
	path string
	err  error
}

func (o *once) get(t testing.TB, name string, build func() (string, error)) string {
	t.Helper()
	o.once.Do(func() {
		start := time.Now()
		o.path, o.err = build()
		if o.err == nil {
			t.Logf("binary %s ready in %s: %s", name, time.Since(start).Round(time.Millisecond), o.path)
		}
	})
	if o.err != nil {
		t.Fatalf("build %s: %v", name, o.err)
	}
	return o.path
}

var (
	serviceOnce once
	toolsMu     sync.Mutex
	tools       = map[string]*once{}
)

// ServiceBinary builds ./cmd/server once per test binary run into a
// directory of its own under the system's temporary directory, and returns
// its path. Call CleanupBinaries from TestMain to remove it.
func ServiceBinary(t testing.TB) string {
	t.Helper()
	return serviceOnce.get(t, "ordersvc", func() (string, error) {
		root, err := gotool.RepoRoot()
		if err != nil {
			return "", err
		}
		dir, err := os.MkdirTemp("", "ordersvc-bin-")
		if err != nil {
			return "", fmt.Errorf("binary directory: %w", err)
		}
		out := filepath.Join(dir, "ordersvc")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/server")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./cmd/server: %w\n%s", err, b)
		}
		return out, nil
	})
}

// CleanupBinaries removes what ServiceBinary built; TestMain calls it after
// m.Run.
func CleanupBinaries() {
	if serviceOnce.path != "" {
		_ = os.RemoveAll(filepath.Dir(serviceOnce.path))
	}
}

// Tool returns the path of a pinned tool of tools/go.mod (prometheus,
// promtool, alertmanager, amtool), built into gotool's cache on first use.
// It fails the test (never skips) when the tool cannot be built.
func Tool(t testing.TB, name string) string {
	t.Helper()
	toolsMu.Lock()
	o, ok := tools[name]
	if !ok {
		o = &once{}
		tools[name] = o
	}
	toolsMu.Unlock()
	return o.get(t, name, func() (string, error) { return gotool.Build(name) })
}

// RunTool runs the pinned tool name (built by Tool) with args in dir (the
// test's working directory when dir is empty), within ToolTimeout and the
// test's context. It returns the tool's combined stdout and stderr, and an
// error naming the command when the tool fails or cannot run.
func RunTool(t testing.TB, dir, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), ToolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Tool(t, name), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), err
}

package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestInvalidConfigExits2(t *testing.T) {
	for _, bad := range []map[string]string{
		{"SENTRY_TRACES_SAMPLE_RATE": "2"},
		{"HTTP_ADDR": "nope"},
		{"LOG_LEVEL": "chatty"},
		{"ADMIN_TOKEN_FILE": filepath.Join(t.TempDir(), "missing")},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), env(bad), &stderr, nil)
		if code != 2 {
			t.Errorf("%v: exit code %d, want 2", bad, code)
		}
		out := strings.TrimSpace(stderr.String())
		var name string
		for k := range bad {
			name = k
		}
		if strings.Count(out, "\n") != 0 || !strings.Contains(out, name) {
			t.Errorf("%v: want one line naming %s, got %q", bad, name, out)
		}
	}
}

// TestGracefulShutdown starts the server, begins a slow request, cancels
// (as SIGTERM does) and checks that the request completes and run returns 0.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan int, 1)
	var logs bytes.Buffer
	go func() {
		done <- run(ctx, env(map[string]string{
			"HTTP_ADDR": "127.0.0.1:0", "DATABASE_URL": "sqlite://" + filepath.Join(dir, "db.sqlite"),
			"ADMIN_TOKEN": "t", "SHUTDOWN_TIMEOUT": "5s", "LOG_LEVEL": "warn",
		}), &logs, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("server exited early with %d: %s", code, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}
	base := "http://" + addr
	req, _ := http.NewRequest("PUT", base+"/admin/faults", strings.NewReader(`{"latency_ms":500,"routes":["/inventory"]}`))
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("set faults: %v %v", resp, err)
	}
	slow := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/inventory")
		if err != nil {
			slow <- -1
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	time.Sleep(150 * time.Millisecond) // the request is now in flight
	cancel()
	if code := <-slow; code != 200 {
		t.Errorf("in-flight request during shutdown: status %d, want 200", code)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d, want 0; logs: %s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still accepts connections after shutdown")
	}
}

// TestBinarySIGTERM builds the real binary, starts it on a free port with
// defaults for everything else, and stops it with SIGTERM by PID.
func TestBinarySIGTERM(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir // ./data/ordersvc.db lands in the temp dir
	cmd.Env = append(os.Environ(), "HTTP_ADDR=127.0.0.1:0", "LOG_FORMAT=json")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(stderr.String(), "ordersvc listening") {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), "ordersvc listening") {
		t.Fatalf("not listening: %s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "ordersvc.db")); err != nil {
		t.Errorf("default database not created under ./data: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v; logs: %s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if !strings.Contains(stderr.String(), "shutdown complete") {
		t.Errorf("no clean shutdown in logs: %s", stderr.String())
	}
}

// lockedBuffer is a bytes.Buffer safe for the child's writer goroutine and
// the test reading it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestHealthcheckSubcommand(t *testing.T) {
	srv := httptestServer(t, 200)
	var out bytes.Buffer
	if code := healthcheck(env(map[string]string{"HTTP_ADDR": srv}), &out); code != 0 {
		t.Errorf("ready server: exit %d (%s)", code, out.String())
	}
	down := httptestServer(t, 503)
	if code := healthcheck(env(map[string]string{"HTTP_ADDR": down}), &out); code != 1 {
		t.Errorf("draining server: exit %d", code)
	}
	if code := healthcheck(env(map[string]string{"HTTP_ADDR": "nonsense"}), &out); code != 2 {
		t.Errorf("bad HTTP_ADDR: exit %d", code)
	}
}

// httptestServer serves /readyz with status on 127.0.0.1 and returns
// ":port", as HTTP_ADDR would be set.
func httptestServer(t *testing.T, status int) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			w.WriteHeader(404)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return ":" + s.URL[strings.LastIndex(s.URL, ":")+1:]
}

package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// TestMain removes the service binary testkit builds for TestBinarySIGTERM.
func TestMain(m *testing.M) {
	code := m.Run()
	testkit.CleanupBinaries()
	os.Exit(code)
}

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
			"ADMIN_TOKEN": testkit.AdminToken, "SHUTDOWN_TIMEOUT": "5s", "LOG_LEVEL": "warn",
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
	req.Header.Set("Authorization", "Bearer "+testkit.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := testkit.HTTPClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("set faults: %v %v", resp, err)
	}
	resp.Body.Close()
	slow := make(chan int, 1)
	go func() {
		resp, err := testkit.HTTPClient.Get(base + "/inventory")
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
	if _, err := testkit.HTTPClient.Get(base + "/healthz"); err == nil {
		t.Error("server still accepts connections after shutdown")
	}
}

// TestBinarySIGTERM builds the real binary, starts it on a free port with
// defaults for everything else, and stops it with SIGTERM by PID.
func TestBinarySIGTERM(t *testing.T) {
	dir := t.TempDir()
	p := testkit.StartProc(t, "ordersvc", testkit.ServiceBinary(t), nil, testkit.ProcOptions{
		Dir: dir, // ./data/ordersvc.db lands in the temp dir
		Env: []string{"HTTP_ADDR=127.0.0.1:0", "LOG_FORMAT=json"},
	})
	p.WaitJSONLogLine(t, "ordersvc listening", 20*time.Second)
	if _, err := os.Stat(filepath.Join(dir, "data", "ordersvc.db")); err != nil {
		t.Errorf("default database not created under ./data: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; logs: %s", err, p.Log())
	}
	if p.JSONLogLine("shutdown complete") == nil {
		t.Errorf("no clean shutdown in logs: %s", p.Log())
	}
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

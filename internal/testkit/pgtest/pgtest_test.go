package pgtest

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServerLifecycle starts a cluster, uses a fresh database, stops the
// server (connections fail) and restarts it (the data is still there).
func TestServerLifecycle(t *testing.T) {
	start := time.Now()
	s := StartServer(t)
	t.Logf("cluster ready in %s", time.Since(start).Round(time.Millisecond))
	ctx := context.Background()
	url := s.NewDatabase(t)
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := exec("SELECT 1"); err == nil {
		t.Fatal("a stopped server answered")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := exec("SELECT x FROM kept"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if other := s.NewDatabase(t); other == url {
		t.Errorf("NewDatabase returned %s twice", url)
	}
}

// TestCloseStopsTheProcessAndRemovesTheDirectory checks the cleanup.
func TestCloseStopsTheProcessAndRemovesTheDirectory(t *testing.T) {
	s, err := Start(context.Background(), Require(t))
	if err != nil {
		t.Fatal(err)
	}
	pid := s.cmd.Process.Pid
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("postgres (pid %d) still runs after Close", pid)
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Close: %v", s.dir, err)
	}
}

// Package pgtest runs throwaway PostgreSQL servers for tests, from the
// machine's PostgreSQL binaries (initdb and postgres; no Docker, no
// downloads). A Server is a fresh cluster in a temporary directory,
// listening on a free loopback port, tuned for speed over durability
// (fsync off). Tests get a fresh database each (Server.NewDatabase), and
// can stop and restart the server mid-test to simulate an outage.
//
// One server per test binary is the usual shape: a Shared in the test
// package, closed by TestMain:
//
//	var pg pgtest.Shared
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		pg.Close()
//		os.Exit(code)
//	}
//
//	func TestX(t *testing.T) {
//		url := pg.Server(t).NewDatabase(t)
//		…
//	}
//
// When the binaries are missing, a test that needs them fails if the
// environment has CI=true, and is skipped otherwise (install the Debian
// package postgresql). When the tests run as root, which initdb refuses,
// the server runs as the postgres system user.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bounds of the server's life.
const (
	// StartTimeout bounds how long a starting server may take to accept
	// connections.
	StartTimeout = 60 * time.Second
	// StopGrace is how long the server gets to shut down (fast shutdown)
	// before its process group is killed.
	StopGrace = 15 * time.Second
	// Superuser is the cluster's superuser; authentication is "trust".
	Superuser = "postgres"
)

// ErrNoBinaries means the PostgreSQL server binaries were not found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin; install the Debian package postgresql")

// Binaries are the paths of the PostgreSQL programs a Server runs.
type Binaries struct {
	InitDB   string
	Postgres string
}

// FindBinaries looks for initdb and postgres on PATH, then in the newest
// /usr/lib/postgresql/<version>/bin.
func FindBinaries() (Binaries, error) {
	initdb, err1 := exec.LookPath("initdb")
	postgres, err2 := exec.LookPath("postgres")
	if err1 == nil && err2 == nil {
		return Binaries{InitDB: initdb, Postgres: postgres}, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		b := Binaries{InitDB: filepath.Join(dir, "initdb"), Postgres: filepath.Join(dir, "postgres")}
		if isExecutable(b.InitDB) && isExecutable(b.Postgres) {
			return b, nil
		}
	}
	return Binaries{}, ErrNoBinaries
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Require returns the binaries, or ends the test: a failure when CI=true
// (a CI machine must have them), a skip naming the package to install
// otherwise.
func Require(t testing.TB) Binaries {
	t.Helper()
	b, err := FindBinaries()
	if err != nil {
		missing(t, err)
	}
	return b
}

// missing ends the test for a missing prerequisite.
func missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL tests cannot run (CI=true, so this fails instead of skipping): %v", err)
	}
	t.Skipf("skipping PostgreSQL tests: %v", err)
}

// Server is one throwaway PostgreSQL cluster and its server process. Its
// methods are safe for concurrent use.
type Server struct {
	bin     Binaries
	dir     string // owns everything: data, socket, log
	dataDir string
	sockDir string
	logPath string
	cred    *syscall.Credential // nil: run as the current user
	port    int

	mu   sync.Mutex
	cmd  *exec.Cmd     // nil while stopped
	done chan struct{} // closed when cmd has exited

	dbSeq atomic.Int64
}

// StartServer starts a new server for one test and stops it (and removes
// its files) when the test ends. It skips or fails the test, as Require
// does, when the server cannot run here.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bin := Require(t)
	s, err := Start(context.Background(), bin)
	if err != nil {
		if errors.Is(err, errNoUser) {
			missing(t, err)
		}
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return s
}

var errNoUser = errors.New(`running as root, and initdb refuses root, but there is no "postgres" system user to run the server as`)

// Start initialises a new cluster in a temporary directory and starts its
// server on a free loopback port. Close it when done.
func Start(ctx context.Context, bin Binaries) (*Server, error) {
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(Superuser)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNoUser, err)
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("user %s has a non-numeric uid or gid", Superuser)
		}
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	var err error
	if s.dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, fmt.Errorf("create the cluster directory: %w", err)
	}
	s.dataDir, s.sockDir, s.logPath = filepath.Join(s.dir, "data"), filepath.Join(s.dir, "sock"), filepath.Join(s.dir, "postgres.log")
	if err := s.prepareDirs(); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	if err := s.initdb(ctx); err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	// A free port can be taken by someone else before the server binds it:
	// try a few.
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.Restart(ctx); err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		_ = os.RemoveAll(s.dir)
		return nil, err
	}
	return s, nil
}

func (s *Server) prepareDirs() error {
	if err := os.Mkdir(s.sockDir, 0o700); err != nil {
		return fmt.Errorf("create the socket directory: %w", err)
	}
	if s.cred == nil {
		return nil
	}
	for _, d := range []string{s.dir, s.sockDir} {
		if err := os.Chown(d, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fmt.Errorf("give %s to %s: %w", d, Superuser, err)
		}
	}
	return nil
}

// command returns a command running as the cluster's owner with a minimal
// environment (no PG* variables of the developer's shell leak in).
func (s *Server) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.dir, "LC_ALL=C", "LANG=C", "TZ=UTC"}
	// Its own process group, so that stopping it can reach every backend.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	return cmd
}

func (s *Server) initdb(ctx context.Context) error {
	cmd := s.command(ctx, s.bin.InitDB, "-D", s.dataDir, "-A", "trust", "-U", Superuser, "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out.String())
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Port returns the TCP port the server listens on (127.0.0.1), the same
// across restarts.
func (s *Server) Port() int { return s.port }

// URL returns the URL of database on the server, as the superuser.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, s.port, database)
}

// Restart starts the server process again after Stop (Start calls it
// for the first start) and waits until it accepts connections. The data
// and the port are the same as before.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("the server is already running")
	}
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open the server log: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := s.command(context.Background(), s.bin.Postgres, "-D", s.dataDir, "-k", s.sockDir,
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-F",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "log_min_messages=warning")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	if err := s.waitReady(ctx, done); err != nil {
		_ = s.stopLocked()
		return fmt.Errorf("%w\n--- server log ---\n%s", err, s.logTail())
	}
	return nil
}

// waitReady polls until the server accepts a connection and answers.
func (s *Server) waitReady(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	var lastErr error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(attempt, s.URL("postgres"))
		if err == nil {
			err = conn.Ping(attempt)
			_ = conn.Close(attempt)
		}
		cancelAttempt()
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-exited:
			return errors.New("postgres exited during startup")
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections within %s: %w", StartTimeout, lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts the server down, keeping its data for Restart. It sends
// SIGINT, PostgreSQL's fast shutdown (SIGTERM is its smart shutdown,
// which waits for every client to disconnect, and a connection pool never
// does), and kills the process group with SIGKILL after StopGrace.
// Stopping a stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	if s.cmd == nil {
		return nil
	}
	pid, done := s.cmd.Process.Pid, s.done
	s.cmd, s.done = nil, nil
	_ = syscall.Kill(pid, syscall.SIGINT)
	select {
	case <-done:
		return nil
	case <-time.After(StopGrace):
	}
	// The postmaster and every backend share its process group.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-done
	return fmt.Errorf("postgres (pid %d) did not stop within %s; killed", pid, StopGrace)
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop()
	if rmErr := os.RemoveAll(s.dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("remove %s: %w", s.dir, rmErr))
	}
	return err
}

// logTail returns the end of the server's log, for failure messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// NewDatabase creates an empty database for the test and returns its URL.
// The database is dropped when the test ends (after the test's own
// cleanups registered later, such as closing its pools).
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := "t_" + strconv.FormatInt(s.dbSeq.Add(1), 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.exec(ctx, "CREATE DATABASE "+name+" STRATEGY FILE_COPY"); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if !s.running() {
			return // a test that stopped the server for good; Close removes it all
		}
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return s.URL(name)
}

func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// exec runs one statement on the maintenance database as the superuser.
func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// Shared is one server for a whole test binary, started by the first
// test that asks for it. The zero value is ready; Close it in TestMain.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Server returns the shared server, starting it on first use. It skips or
// fails the test, as Require does, when the server cannot run here.
func (sh *Shared) Server(t testing.TB) *Server {
	t.Helper()
	bin := Require(t)
	sh.once.Do(func() {
		start := time.Now()
		sh.srv, sh.err = Start(context.Background(), bin)
		if sh.err == nil {
			t.Logf("pgtest: PostgreSQL started on 127.0.0.1:%d in %s", sh.srv.Port(), time.Since(start).Round(time.Millisecond))
		}
	})
	if errors.Is(sh.err, errNoUser) {
		missing(t, sh.err)
	}
	if sh.err != nil {
		t.Fatalf("start PostgreSQL: %v", sh.err)
	}
	return sh.srv
}

// Close stops the shared server, if it was started, and removes its files.
func (sh *Shared) Close() error {
	if sh.srv == nil {
		return nil
	}
	return sh.srv.Close()
}

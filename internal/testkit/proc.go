package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds of process handling.
const (
	// StopGrace is how long a process gets to exit after SIGTERM before it
	// is killed.
	StopGrace = 20 * time.Second
	// LogTailLines is how much of a process's log a failure prints.
	LogTailLines = 40
)

// Proc is one child process started by a test. Its stdout and stderr go to
// a log file in the test's temporary directory, kept for failure output.
type Proc struct {
	// Name says what the process is, in messages.
	Name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid once done is closed
	mu      sync.Mutex
	stopped bool
	stopErr error
}

// ProcOptions change how StartProc runs a process.
type ProcOptions struct {
	// Env is added to a minimal environment (PATH, HOME, TMPDIR): nothing
	// from the developer's shell (a stray SENTRY_DSN, HTTP_PROXY, …) leaks
	// into the process under test.
	Env []string
	// Dir is the working directory (default: the test's).
	Dir string
	// SysProcAttr, when set, is the process's attributes (credentials,
	// resource limits through a wrapper, …).
	SysProcAttr *syscall.SysProcAttr
}

// StartProc starts bin with args and registers a cleanup that stops it by
// PID and, if the test failed, prints the tail of its log. The process is
// always stopped, even when the test fails or panics.
func StartProc(t testing.TB, name, bin string, args []string, o ProcOptions) *Proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("%s: create log: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = o.Dir
	cmd.SysProcAttr = o.SysProcAttr
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}, o.Env...)
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("%s: start %s: %v", name, bin, err)
	}
	p := &Proc{Name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	t.Logf("started %s (pid %d)", name, cmd.Process.Pid)
	t.Cleanup(func() {
		p.mu.Lock()
		stoppedByTest := p.stopped // the test already checked its exit
		p.mu.Unlock()
		if err := p.Stop(); err != nil && !stoppedByTest {
			t.Logf("%s (pid %d) at cleanup: %v", name, p.PID(), err)
		}
		if t.Failed() {
			t.Logf("--- last %d lines of %s (%s) ---\n%s", LogTailLines, name, logPath, p.Tail(LogTailLines))
		}
	})
	return p
}

// PID returns the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// WaitErr is the process's exit error; valid once Done is closed.
func (p *Proc) WaitErr() error {
	<-p.done
	return p.waitErr
}

// Signal sends sig to the process by its PID.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL and waits for the process to exit; it reports whether
// the process was still running.
func (p *Proc) Kill() bool {
	if p.Exited() {
		return false
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.mu.Lock()
	p.stopped, p.stopErr = true, p.waitErr
	p.mu.Unlock()
	return true
}

// Stop sends SIGTERM to the process (by its PID), waits up to StopGrace
// for it to exit and kills it with SIGKILL after that. It returns the
// process's exit error (nil for a clean exit) or a description of why it
// had to be killed. Calling it again returns the first result.
func (p *Proc) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return p.stopErr
	}
	p.stopped = true
	p.stopErr = p.stop()
	return p.stopErr
}

func (p *Proc) stop() error {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(StopGrace):
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("%s (pid %d) ignored SIGTERM for %s and was killed", p.Name, p.PID(), StopGrace)
		}
	}
	return p.waitErr
}

// Log returns the process's log so far.
func (p *Proc) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	return string(b)
}

// Tail returns the last n lines of the process's log.
func (p *Proc) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// JSONLogLines returns the process's JSON log lines whose "msg" is msg,
// decoded, in order.
func (p *Proc) JSONLogLines(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.Log()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(msg)) {
			continue
		}
		var rec map[string]any
		if json.Unmarshal(line, &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// JSONLogLine returns the first JSON log line whose "msg" is msg, or nil.
func (p *Proc) JSONLogLine(msg string) map[string]any {
	if lines := p.JSONLogLines(msg); len(lines) > 0 {
		return lines[0]
	}
	return nil
}

// FreePort returns a port on 127.0.0.1 that is free for both TCP and UDP
// (Alertmanager's gossip uses both on its cluster port). Another process
// could take it before the caller binds it; the window is small and a
// clash fails the start loudly rather than silently.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		udp, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		_ = ln.Close()
		if err != nil {
			continue
		}
		_ = udp.Close()
		return port
	}
	t.Fatal("no port free for both TCP and UDP on 127.0.0.1 after 20 tries")
	return 0
}

// WaitJSONLogLine polls the process's log until it holds a JSON line whose
// "msg" is msg, and returns that line decoded. It fails the test after
// timeout, and at once (with the log's tail) if the process exits first.
func (p *Proc) WaitJSONLogLine(t testing.TB, msg string, timeout time.Duration) map[string]any {
	t.Helper()
	var rec map[string]any
	WaitFor(t, fmt.Sprintf("%s logs %q", p.Name, msg), timeout, func() (bool, string) {
		p.failIfExited(t, "before logging "+msg)
		rec = p.JSONLogLine(msg)
		return rec != nil, "no such log line yet"
	})
	return rec
}

// WaitReady polls url until it answers 200 OK. It fails the test after
// timeout, and at once (with the log's tail) if the process exits first.
func (p *Proc) WaitReady(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	WaitFor(t, p.Name+" ready at "+url, timeout, func() (bool, string) {
		p.failIfExited(t, "during start-up")
		resp, err := HTTPClient.Get(url)
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, "status " + resp.Status
	})
}

// failIfExited fails the test, printing the log's tail, if the process has
// exited.
func (p *Proc) failIfExited(t testing.TB, when string) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("%s exited %s: %v\n%s", p.Name, when, p.WaitErr(), p.Tail(LogTailLines))
	}
}

package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bounds of process handling.
const (
	// stopGrace is how long a process gets to exit after SIGTERM before it
	// is killed.
	stopGrace = 20 * time.Second
	// logTailLines is how much of a process's log a failure prints.
	logTailLines = 40
)

// proc is one child process started by a test. Its stdout and stderr go to
// a log file in the test's temporary directory, kept for failure output.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid once done is closed
	stopped bool
}

// startProc starts bin with args and env (added to a minimal environment)
// and registers a cleanup that stops it by PID and, if the test failed,
// prints the tail of its log. The process is always stopped, even when the
// test fails or panics.
func startProc(t *testing.T, name, bin string, args, env []string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("%s: create log: %v", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// A minimal environment: nothing from the developer's shell (a stray
	// SENTRY_DSN, HTTP_PROXY, …) leaks into the processes under test.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}, env...)
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("%s: start %s: %v", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	t.Logf("started %s (pid %d)", name, cmd.Process.Pid)
	t.Cleanup(func() {
		stoppedByTest := p.stopped // the test already checked its exit
		if err := p.stop(); err != nil && !stoppedByTest {
			t.Logf("%s (pid %d) at cleanup: %v", name, p.pid(), err)
		}
		if t.Failed() {
			t.Logf("--- last %d lines of %s (%s) ---\n%s", logTailLines, name, logPath, p.tail(logTailLines))
		}
	})
	return p
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process (by its PID), waits up to stopGrace
// for it to exit and kills it with SIGKILL after that. It returns the
// process's exit error (nil for a clean exit) or a description of why it
// had to be killed. Calling it again returns the first result.
func (p *proc) stop() error {
	if p.stopped {
		return p.waitErr
	}
	p.stopped = true
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("%s (pid %d) ignored SIGTERM for %s and was killed", p.name, p.pid(), stopGrace)
		}
	}
	return p.waitErr
}

// log returns the process's log so far.
func (p *proc) log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	return string(b)
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// jsonLogLine returns the first JSON log line of the process whose "msg" is
// msg, decoded, or nil.
func (p *proc) jsonLogLine(msg string) map[string]any {
	sc := bufio.NewScanner(strings.NewReader(p.log()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(msg)) {
			continue
		}
		var rec map[string]any
		if json.Unmarshal(line, &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	return nil
}

// freePort returns a port on 127.0.0.1 that is free for both TCP and UDP
// (Alertmanager's gossip uses both on its cluster port). Another process
// could take it before the caller binds it; the window is small and a
// clash fails the start loudly rather than silently.
func freePort(t *testing.T) int {
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

// waitFor polls cond every interval until it returns true, or fails the
// test after timeout with what and cond's last message. It returns how long
// it waited. cond's message says what it saw, for the failure.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) time.Duration {
	t.Helper()
	d, err := poll(timeout, cond)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return d
}

// poll is waitFor without the test: it returns the time waited, or an error
// naming cond's last message after timeout.
func poll(timeout time.Duration, cond func() (bool, string)) (time.Duration, error) {
	const interval = 250 * time.Millisecond
	start := time.Now()
	deadline := start.Add(timeout)
	last := ""
	for {
		ok, msg := cond()
		if ok {
			return time.Since(start), nil
		}
		last = msg
		if time.Now().After(deadline) {
			return time.Since(start), fmt.Errorf("not true after %s; last seen: %s", timeout, last)
		}
		time.Sleep(interval)
	}
}

// httpClient is the client of every test request: bounded in time.
var httpClient = &http.Client{Timeout: 10 * time.Second}

// doJSON sends a request with an optional JSON body and bearer token, and
// decodes a JSON answer into out (when out is non-nil and the status is
// 2xx). It returns the status and the raw body.
func doJSON(ctx context.Context, method, url, token string, body any, out any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, raw, fmt.Errorf("decode %s %s: %w", method, url, err)
		}
	}
	return resp.StatusCode, raw, nil
}

// getJSON is a GET through doJSON that wants a 200.
func getJSON(url, token string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, raw, err := doJSON(ctx, http.MethodGet, url, token, nil, out)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, code, truncate(string(raw), 300))
	}
	return nil
}

// truncate shortens s for messages.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
